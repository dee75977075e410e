"""The keyword lists in bot/data/nlu/lookups.yml as features for the linear second opinion.

DIET already sees them through Rasa's RegexFeaturizer; the linear model saw only n-grams, so
a word met once in a lookup list ("kaiser", "suboxone", "parking") taught it nothing. One
column per list: `weight` when any of its entries occurs as a whole word, else 0.

A scikit-learn transformer so that it sits inside the classifier's pipeline and is saved and
loaded with it. It keeps only plain strings (no compiled patterns) so skops can store it.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

from scipy.sparse import csr_matrix
from sklearn.base import BaseEstimator, TransformerMixin


def lookup_lists(training_data) -> list[dict]:
    """The training data's lookup lists as plain {"name", "elements"} dicts.

    A table whose elements are a file name rather than a list (Rasa 1 style) is skipped.
    """
    return [
        {"name": table.get("name"), "elements": [str(e) for e in table["elements"]]}
        for table in training_data.lookup_tables
        if isinstance(table.get("elements"), list)
    ]


@lru_cache(maxsize=None)
def lookup_pattern(elements: tuple[str, ...]) -> re.Pattern:
    """Any of the elements as a whole word or phrase, ignoring case; longest tried first.

    Cached by the elements, because every parsed message needs every list's pattern.

    A word boundary is required only at an end that is a letter or digit, so "$" still
    matches in "$500" while "open" does not match in "opened".
    """
    alternatives = sorted({e.strip() for e in elements if e and e.strip()}, key=len, reverse=True)
    if not alternatives:
        return re.compile(r"(?!)")  # matches nothing
    return re.compile("|".join(map(_whole_word, alternatives)), re.IGNORECASE)


def _whole_word(element: str) -> str:
    start = r"\b" if element[0].isalnum() else ""
    end = r"\b" if element[-1].isalnum() else ""
    return f"{start}{re.escape(element)}{end}"


class LookupMatches(BaseEstimator, TransformerMixin):
    """Text -> one column per lookup list, `weight` where the list matches."""

    def __init__(self, lookups: Sequence[Mapping] = (), weight: float = 0.3) -> None:
        # Plain {"name", "elements"} dicts, as TrainingData.lookup_tables holds them.
        self.lookups = lookups
        self.weight = weight

    def fit(self, texts: Sequence[str], labels: Sequence[str] | None = None) -> LookupMatches:
        return self

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        patterns = [lookup_pattern(tuple(table.get("elements") or ())) for table in self.lookups]
        rows, cols = [], []
        for row, text in enumerate(texts):
            for col, pattern in enumerate(patterns):
                if text and pattern.search(text):
                    rows.append(row)
                    cols.append(col)
        return csr_matrix(
            ([self.weight] * len(rows), (rows, cols)), shape=(len(texts), len(patterns))
        )
