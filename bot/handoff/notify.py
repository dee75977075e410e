"""Texts on-call admissions staff that a handoff is waiting, with no PHI in the message.

Twilio being unreachable is retried with backoff and recorded on the handoff; it never
reaches the person's conversation.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Protocol

logger = logging.getLogger(__name__)

PRIORITY_LABELS = {0: "urgent", 1: "high", 2: "high"}


def staff_text_for(priority: int) -> str:
    """The whole message: a priority and where to look. No name, number or answer."""
    label = PRIORITY_LABELS.get(priority, "normal")
    return f"New admissions handoff, priority {label}: open the console"


class SmsSender(Protocol):
    def __call__(self, to: str, body: str) -> None: ...


@dataclass(frozen=True)
class NotifyOutcome:
    attempts: int
    error: str | None  # None when every on-call number was texted


def twilio_sender(account_sid: str, auth_token: str, from_number: str) -> SmsSender:
    from twilio.rest import Client

    # The SDK logs every request's URL and headers at INFO; our logs carry outcomes only.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    client = Client(account_sid, auth_token)

    def send(to: str, body: str) -> None:
        client.messages.create(to=to, from_=from_number, body=body)

    return send


def notify_oncall(priority: int, numbers: tuple[str, ...], send: SmsSender | None,
                  attempts: int = 4, first_delay: float = 1.0,
                  sleep: Callable[[float], None] = time.sleep) -> NotifyOutcome:
    """Texts every on-call number, retrying each failure with doubling delays."""
    if not numbers:
        return NotifyOutcome(0, "no on-call staff numbers configured")
    if send is None:
        return NotifyOutcome(0, "twilio not configured")
    body = staff_text_for(priority)
    worst = NotifyOutcome(0, None)
    for number in numbers:
        delay, error = first_delay, None
        for attempt in range(1, attempts + 1):
            try:
                send(number, body)
                error = None
                break
            except Exception as failure:  # any Twilio or network error is retried the same way
                error = f"{type(failure).__name__}"
                logger.warning("staff notification attempt %d failed (%s)", attempt, error)
                if attempt < attempts:
                    sleep(delay)
                    delay *= 2
        if error is not None or attempt > worst.attempts:
            worst = NotifyOutcome(max(attempt, worst.attempts), error or worst.error)
    return worst
