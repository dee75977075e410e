"""Which reply answers a question, given its FAQ topic and the facility profile.

The topic's own answer when the profile holds every fact it needs; otherwise an honest "I
don't have that detail" naming the topic, never a generic answer or a guess. A question
that names an insurance plan is told whether that plan is on the accepted list. Pure
Python (no Rasa, no spaCy): the action finds the plan's name and passes it in.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from bot.facility import FacilityProfile
from bot.faq_topics import FaqTopic

NO_DETAIL_RESPONSE = "utter_faq_no_detail"
NOT_COVERED_RESPONSE = "utter_question_not_covered"
INSURER_LISTED_RESPONSE = "utter_insurance_listed"
INSURER_NOT_LISTED_RESPONSE = "utter_insurance_not_listed"
INSURANCE_TOPIC = "insurance"


@dataclass(frozen=True)
class Answer:
    response: str
    # Placeholder values beyond the profile's reply slots (a topic's label, a plan's name).
    values: Mapping[str, str] = field(default_factory=dict)


def missing_details(topic: FaqTopic, profile: FacilityProfile) -> list[str]:
    return [name for name in topic.needs if not profile.details.get(name)]


def answer_for(
    key: str,
    topics: Mapping[str, FaqTopic],
    profile: FacilityProfile,
    language: str | None = None,
    insurer: str | None = None,
    accepted_insurers: Collection[str] = (),
) -> Answer:
    """The reply for FAQ topic `key`.

    `insurer` is the canonical name of a plan the question named, if any, and
    `accepted_insurers` the canonical names of the profile's accepted plans.
    """
    topic = topics.get(key)
    if topic is None:
        # A center's own question (bot/facility_faq.yml): its answer is written whole.
        return Answer(f"utter_faq/{key}")
    if missing_details(topic, profile):
        return Answer(NO_DETAIL_RESPONSE, {"topic_label": topic.label(language)})
    if key == INSURANCE_TOPIC and insurer:
        listed = insurer.casefold() in {name.casefold() for name in accepted_insurers}
        return Answer(INSURER_LISTED_RESPONSE if listed else INSURER_NOT_LISTED_RESPONSE,
                      {"insurer": insurer})
    return Answer(f"utter_faq/{key}")
