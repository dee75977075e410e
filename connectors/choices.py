"""The numbered choices in a question ("Reply 1) neither, 2) signs now, ..."), as buttons.

The pre-screen asks its multiple-choice questions in words every channel can carry: a texter
replies "2", a caller says it. On the website the same choices become buttons whose payload
is the number the question's validator already reads, so the domain keeps one wording and a
second language needs no code: only digits and ")" are read, never the words around them.
"""
from __future__ import annotations

import re

# "1) " at the start or after a blank; one or two digits.
_MARKER = re.compile(r"(?:^|(?<=\s))(\d{1,2})\)\s+")
# The last choice ends with its sentence.
_SENTENCE_END = re.compile(r"[.?!](?:\s|$)")
# Joining words between two choices ("3) past seizures, or 4) both"): not part of a label.
_TRAILING_JOINERS = re.compile(r"[\s,;:]*(?:\b(?:or|and|o|y)\b)?[\s,;:]*$", re.IGNORECASE)


def numbered_choices(text: str) -> list[dict[str, str]]:
    """Buttons for choices numbered 1, 2, 3... in order; none unless there are at least two."""
    markers = list(_MARKER.finditer(text or ""))
    run: list[re.Match[str]] = []
    for marker in markers:
        if int(marker.group(1)) == len(run) + 1:
            run.append(marker)
        elif run and len(run) >= 2:
            break
        else:
            run = [marker] if marker.group(1) == "1" else []
    if len(run) < 2:
        return []
    buttons = []
    for index, marker in enumerate(run):
        if index + 1 < len(run):
            label = text[marker.end():run[index + 1].start()]
        else:
            rest = text[marker.end():]
            end = _SENTENCE_END.search(rest)
            label = rest[:end.start()] if end else rest
        label = _TRAILING_JOINERS.sub("", label).strip()
        if not label:
            return []
        buttons.append({"title": label, "payload": marker.group(1)})
    return buttons
