"""Rasa training-data importer: a center's own questions (bot/facility_faq.yml) become FAQ
topics, with their examples as training data and their answers as replies.

Listed in config.yml after RasaFileImporter, so `rasa train`, `rasa data validate` and
`make nlu-report` all see them, and Rasa's fingerprint retrains when the file changes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa.shared.core.domain import Domain
from rasa.shared.core.training_data.structures import StoryGraph
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.shared.utils.io import dump_obj_as_yaml_to_string

from bot.facility_faq import FACILITY_FAQ_PATH, CenterQuestion, load_facility_faq
from bot.faq_topics import RETRIEVAL_INTENT


class FacilityFaqImporter(TrainingDataImporter):
    def __init__(
        self,
        config_file: str | None = None,
        domain_path: str | None = None,
        training_data_paths: list[str] | str | None = None,
        path: str | None = None,
        **kwargs: Any,
    ) -> None:
        # A mistake in the file stops training with its message, rather than training
        # without the center's questions.
        self._questions = load_facility_faq(Path(path) if path else FACILITY_FAQ_PATH)

    def get_domain(self) -> Domain:
        return Domain.from_dict({"responses": {
            f"utter_{RETRIEVAL_INTENT}/{q.key}": [{"text": q.answer}] for q in self._questions
        }})

    def get_nlu_data(self, language: str | None = "en") -> TrainingData:
        if not self._questions:
            return TrainingData()
        return RasaYAMLReader().reads(nlu_yaml(self._questions))

    def get_stories(self, exclusion_percentage: int | None = None) -> StoryGraph:
        return StoryGraph([])

    def get_conversation_tests(self) -> StoryGraph:
        return StoryGraph([])

    def get_config(self) -> dict:
        return {}

    def get_config_file_for_auto_config(self) -> str | None:
        return None


def nlu_yaml(questions: list[CenterQuestion]) -> str:
    """The questions as Rasa's NLU YAML: one `faq/center_<key>` block each."""
    return dump_obj_as_yaml_to_string({
        "version": "3.1",
        "nlu": [
            {"intent": f"{RETRIEVAL_INTENT}/{q.key}",
             "examples": "".join(f"- {example}\n" for example in q.examples)}
            for q in questions
        ],
    })
