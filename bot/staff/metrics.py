"""The admissions funnel a director asks for, over the last 14 or 30 days, from the leads DB.

Counts only, never a person's details. "Conversations" here are those that reached the leads
database (a lead or a handoff): Rasa's API cannot list conversations, and the console never
reads the tracker store behind it.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.facility import FacilityProfile
from bot.funnel import store as funnel_store
from bot.leads.schema import Handoff, Lead, PrescreenAnswer, StaffContact
from bot.leads.submission import HandoffPriority
from bot.staff.desk import answer_labels, question_order
from bot.staff.dispositions import BY_CODE
from bot.staff.labels import CONSOLE_WORDS

# What counts as the first human reply: a message that went out, or a call that got through
# (a voicemail is a reply too: the person hears from a counselor).
HUMAN_CONTACT = {("reply", "sent"), ("call", "reached"), ("call", "voicemail")}


@dataclass
class ReplyTimes:
    count: int = 0
    median_minutes: float | None = None
    p90_minutes: float | None = None


@dataclass
class Figures:
    days: int
    since: dt.datetime
    conversations_by_channel: list[tuple[str, int]] = field(default_factory=list)
    prescreens_started: int = 0
    prescreens_completed: int = 0
    prescreens_abandoned: int = 0
    abandoned_at: list[tuple[str, int]] = field(default_factory=list)
    handoffs_by_reason: list[tuple[str, int]] = field(default_factory=list)
    handoffs_by_priority: list[tuple[str, int]] = field(default_factory=list)
    first_reply_in_hours: ReplyTimes = field(default_factory=ReplyTimes)
    first_reply_after_hours: ReplyTimes = field(default_factory=ReplyTimes)
    handoffs_without_reply: int = 0
    dispositions: list[tuple[str, int]] = field(default_factory=list)
    # From the event stream (bot/funnel), every conversation, not only those that left a lead.
    # Empty where no stream runs (`make run`): the page says so.
    stream_steps: list[tuple[str, int]] = field(default_factory=list)
    stream_conversations_by_channel: list[tuple[str, int]] = field(default_factory=list)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `fraction` of them at or
    below it (with ten values, the 90th percentile is the ninth)."""
    ordered = sorted(values)
    rank = max(1, -(-int(fraction * 1000) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


def _reply_times(minutes: list[float]) -> ReplyTimes:
    if not minutes:
        return ReplyTimes()
    return ReplyTimes(len(minutes), round(statistics.median(minutes), 1),
                      round(percentile(minutes, 0.9), 1))


def figures(desk, profile: FacilityProfile, days: int,
            now: dt.datetime | None = None) -> Figures:
    """`desk` is a bot.staff.desk.StaffDesk (its engine is read, never written)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    since = now - dt.timedelta(days=days)
    words = CONSOLE_WORDS
    result = Figures(days, since)
    with Session(desk.engine, future=True) as session:
        leads = session.execute(select(Lead.id, Lead.channel, Lead.status, Lead.conversation_id)
                                .where(Lead.created_at >= since)).all()
        handoffs = session.scalars(select(Handoff).where(Handoff.created_at >= since)).all()
        answered: dict[str, set[str]] = {}
        if leads:
            for lead_id, question in session.execute(
                    select(PrescreenAnswer.lead_id, PrescreenAnswer.question)
                    .where(PrescreenAnswer.lead_id.in_([lead.id for lead in leads]))):
                answered.setdefault(lead_id, set()).add(question)
        contacts = session.execute(
            select(StaffContact.handoff_id, StaffContact.kind, StaffContact.outcome,
                   StaffContact.at).where(StaffContact.at >= since)).all()
        resolved = session.execute(select(Handoff.disposition).where(
            Handoff.resolved_at >= since, Handoff.disposition.is_not(None))).scalars().all()

    conversations: dict[str, str] = {}
    for lead in leads:
        conversations.setdefault(lead.conversation_id, lead.channel)
    for handoff in handoffs:
        conversations.setdefault(handoff.conversation_id, handoff.channel)
    result.conversations_by_channel = _named(Counter(conversations.values()), words["channels"])

    order = question_order()
    labels = answer_labels()["questions"]
    started = [lead for lead in leads if answered.get(lead.id)]
    result.prescreens_started = len(started)
    result.prescreens_completed = sum(1 for lead in started if lead.status == "complete")
    # Abandoned at the first question in the form's order that has no answer.
    stopped_at: Counter[int] = Counter()
    for lead in started:
        if lead.status != "complete":
            stopped_at[next((i for i, q in enumerate(order) if q not in answered[lead.id]),
                            len(order))] += 1
    result.prescreens_abandoned = sum(stopped_at.values())
    result.abandoned_at = [(labels[order[i]] if i < len(order) else "after the last question",
                            stopped_at[i]) for i in sorted(stopped_at)]

    result.handoffs_by_reason = _named(Counter(h.reason for h in handoffs), words["reasons"])
    priorities = Counter(HandoffPriority(h.priority).name for h in handoffs)
    result.handoffs_by_priority = [(words["priorities"][p.name], priorities[p.name])
                                   for p in HandoffPriority if priorities[p.name]]

    first_contact: dict[str, dt.datetime] = {}
    for handoff_id, kind, outcome, at in contacts:
        if (kind, outcome) in HUMAN_CONTACT:
            at = _aware(at)
            if handoff_id not in first_contact or at < first_contact[handoff_id]:
                first_contact[handoff_id] = at
    in_hours, after_hours = [], []
    for handoff in handoffs:
        created = _aware(handoff.created_at)
        reached = first_contact.get(handoff.id)
        if reached is None:
            result.handoffs_without_reply += 1
            continue
        minutes = max(0.0, (reached - created).total_seconds() / 60)
        (in_hours if profile.is_admissions_open(created) else after_hours).append(minutes)
    result.first_reply_in_hours = _reply_times(in_hours)
    result.first_reply_after_hours = _reply_times(after_hours)

    result.dispositions = _named(Counter(resolved), {code: d.label for code, d in BY_CODE.items()})

    steps = funnel_store.step_counts(desk.engine, since)
    if any(steps.values()):
        result.stream_steps = [(words["funnel_steps"][step], count)
                               for step, count in steps.items()]
        by_channel = funnel_store.conversations_by_channel(desk.engine, since)
        result.stream_conversations_by_channel = _named(
            Counter({channel or "unknown": count for channel, count in by_channel.items()}),
            {**words["channels"], "unknown": words["funnel_unknown_channel"]})
    return result


def _named(counts: Counter, names: dict[str, str]) -> list[tuple[str, int]]:
    return [(names.get(key, str(key)), count) for key, count in counts.most_common()]


def as_csv(result: Figures) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "label", "value"])
    writer.writerow(["window", "days", result.days])
    for section, rows in (("conversations by channel", result.conversations_by_channel),
                          ("pre-screen abandoned at", result.abandoned_at),
                          ("handoffs by reason", result.handoffs_by_reason),
                          ("handoffs by priority", result.handoffs_by_priority),
                          ("dispositions", result.dispositions),
                          ("funnel (event stream)", result.stream_steps),
                          ("all conversations by channel (event stream)",
                           result.stream_conversations_by_channel)):
        for label, value in rows:
            writer.writerow([section, label, value])
    for label, value in (("started", result.prescreens_started),
                         ("completed", result.prescreens_completed),
                         ("abandoned", result.prescreens_abandoned)):
        writer.writerow(["pre-screens", label, value])
    for when, times in (("in hours", result.first_reply_in_hours),
                        ("after hours", result.first_reply_after_hours)):
        writer.writerow([f"first human reply {when}", "handoffs", times.count])
        writer.writerow([f"first human reply {when}", "median minutes",
                         "" if times.median_minutes is None else times.median_minutes])
        writer.writerow([f"first human reply {when}", "p90 minutes",
                         "" if times.p90_minutes is None else times.p90_minutes])
    writer.writerow(["first human reply", "handoffs without one yet",
                     result.handoffs_without_reply])
    return out.getvalue()


def bar_widths(rows: list[tuple[str, int]], full: int = 300) -> list[tuple[str, int, int]]:
    """Each row with its bar's width in pixels, the largest filling `full`."""
    top = max((value for _, value in rows), default=0)
    return [(label, value, round(full * value / top) if top else 0) for label, value in rows]

