"""What a conversation hands to the leads database: plain data that also survives a trip to disk.

A `Submission` is built by the actions and the connectors, written by `LeadStore.apply`, and,
when the database is down, kept in the spool as JSON until it can be written. Applying the
same submission twice leaves the database as applying it once, which is what makes the spool
safe to retry.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class HandoffPriority(IntEnum):
    """Where a handoff waits in the counselors' queue: the lowest value is seen first."""

    CRISIS = 0
    DETOX_FIRST = 1
    HIGHER_LEVEL = 2
    ROUTINE = 3


@dataclass(frozen=True)
class ConsentGiven:
    kind: str  # "contact" or "privacy"
    granted: bool
    wording_version: str
    recorded_at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class LeadDetails:
    status: str  # "complete" or "incomplete"
    for_whom: str | None = None
    relationship: str | None = None
    first_name: str | None = None
    phone_e164: str | None = None
    # True when the phone is the number the person is texting or calling from (the channel
    # saw it); only such a number joins conversations into one lead.
    phone_verified: bool = False
    email: str | None = None
    state: str | None = None
    zip_code: str | None = None
    age_group: str | None = None
    insurance_carrier: str | None = None
    # Plain text only between the person's answer and `seal_member_id`, which replaces it
    # with `member_id_sealed` (a Fernet token) before the submission reaches disk or database.
    member_id: str | None = None
    member_id_sealed: str | None = None
    best_time: str | None = None
    voicemail_ok: bool | None = None
    text_ok: bool | None = None
    discreet: bool | None = None
    care_route: str | None = None
    care_reasons: tuple[str, ...] = ()
    # Every answered question, by slot name, as the form stored it.
    answers: dict[str, Any] = field(default_factory=dict)
    consents: tuple[ConsentGiven, ...] = ()


@dataclass(frozen=True)
class HandoffRequest:
    reason: str  # "request_human", "prescreen_complete", "fallback", "crisis"
    priority: HandoffPriority


@dataclass(frozen=True)
class Submission:
    conversation_id: str
    channel: str
    lead: LeadDetails | None = None
    handoff: HandoffRequest | None = None
    submission_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    submitted_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat()
    )

    def to_json_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.handoff is not None:
            data["handoff"]["priority"] = int(self.handoff.priority)
        return data

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> Submission:
        lead = data.get("lead")
        if lead is not None:
            lead = LeadDetails(**{
                **lead,
                "care_reasons": tuple(lead.get("care_reasons") or ()),
                "consents": tuple(ConsentGiven(**c) for c in lead.get("consents") or ()),
            })
        handoff = data.get("handoff")
        return cls(
            conversation_id=data["conversation_id"], channel=data["channel"], lead=lead,
            handoff=HandoffRequest(handoff["reason"], HandoffPriority(handoff["priority"]))
            if handoff else None,
            submission_id=data["submission_id"], submitted_at=data["submitted_at"],
        )


@dataclass(frozen=True)
class Applied:
    """What writing one submission did: the ids, and whether staff need a text about it."""

    submission_id: str
    lead_id: str | None
    handoff_id: str | None
    handoff_is_new: bool
    # The handoff's place in the queue after this submission (a crisis moves it up).
    handoff_priority: HandoffPriority | None = None
    # True when a handoff was asked for but not created: the conversation reached the cap.
    handoff_capped: bool = False
