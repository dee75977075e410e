"""Texts on-call admissions staff that a handoff is waiting, with no PHI in the message.

Goes through the one outbound sender (bot/messaging/outbound.py), so retries, backoff and
opt-outs work as for every other text. Twilio being unreachable is recorded on the handoff;
it never reaches the person's conversation.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.leads.submission import HandoffPriority
from bot.messaging.outbound import OutboundSms, Purpose

PRIORITY_LABELS = {HandoffPriority.CRISIS: "urgent", HandoffPriority.DETOX_FIRST: "high",
                   HandoffPriority.HIGHER_LEVEL: "high", HandoffPriority.ROUTINE: "normal"}


def staff_text_for(priority: HandoffPriority) -> str:
    """The whole message: a priority and where to look. No name, number or answer."""
    return f"New admissions handoff, priority {PRIORITY_LABELS[priority]}: open the console"


@dataclass(frozen=True)
class NotifyOutcome:
    attempts: int
    error: str | None  # None when every on-call number was texted


def notify_oncall(priority: HandoffPriority, numbers: tuple[str, ...],
                  outbound: OutboundSms) -> NotifyOutcome:
    """Texts every on-call number (blocking: call it from a worker thread)."""
    if not numbers:
        return NotifyOutcome(0, "no on-call staff numbers configured")
    body = staff_text_for(priority)
    attempts, error = 0, None
    for number in numbers:
        outcome = outbound.send_blocking(number, body, Purpose.STAFF_ALERT)
        attempts = max(attempts, outcome.attempts)
        error = error or outcome.reason
    return NotifyOutcome(attempts, error)
