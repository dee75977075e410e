"""The one way a text leaves the helpline number: staff alerts, late replies, staff replies.

Every outbound text passes the same checks, in this order:
- an opted-out number gets nothing (STOP holds until START, whoever is sending), except the
  911/988 answer to a crisis message that number has just sent;
- a proactive text to a person waits for 8 a.m. to 9 p.m. in their time zone; a reply to a
  message they just sent is exempt, and so is an alert to on-call staff, who asked for them;
- the text is split into messages of at most two segments;
- Twilio errors are retried with doubling delays.
The Twilio SDK is synchronous, so `send` runs it in a worker thread, off the event loop.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Protocol

from bot.messaging.quiet_hours import may_text_now
from bot.messaging.segments import split_for_sms

logger = logging.getLogger(__name__)


class Purpose(Enum):
    REPLY = "reply"              # answers a message the person just sent
    # Answers a crisis message the person just sent: 911/988 goes out even to a number that
    # texted STOP, because they are reaching out now and nothing outranks their safety.
    CRISIS_REPLY = "crisis_reply"
    STAFF_ALERT = "staff_alert"  # to on-call admissions staff
    PROACTIVE = "proactive"      # anything else to a person: a counselor's text, a reminder


class SmsTransport(Protocol):
    def __call__(self, to: str, body: str) -> None: ...


class OptOutList(Protocol):
    def is_opted_out(self, phone_e164: str) -> bool: ...


@dataclass(frozen=True)
class SendOutcome:
    sent: bool
    attempts: int
    # None when sent; otherwise why not, in words safe for a log (no number, no text).
    reason: str | None = None


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class OutboundSms:
    transport: SmsTransport | None
    opt_outs: OptOutList
    fallback_zone: str  # the center's zone, for a person whose state is not known
    attempts: int = 4
    first_delay: float = 1.0
    clock: Callable[[], dt.datetime] = utc_now
    sleep: Callable[[float], None] = time.sleep

    async def send(self, to: str, body: str, purpose: Purpose,
                   state: str | None = None) -> SendOutcome:
        return await asyncio.to_thread(self.send_blocking, to, body, purpose, state)

    def send_blocking(self, to: str, body: str, purpose: Purpose,
                      state: str | None = None) -> SendOutcome:
        if self.transport is None:
            return SendOutcome(False, 0, "twilio not configured")
        if purpose is not Purpose.CRISIS_REPLY:
            refusal = self._refusal(to, purpose, state)
            if refusal is not None:
                return refusal
        attempts = 0
        for part in split_for_sms(body):
            outcome = self._send_with_retries(to, part)
            attempts += outcome.attempts
            if not outcome.sent:
                return SendOutcome(False, attempts, outcome.reason)
        return SendOutcome(True, attempts)

    def _refusal(self, to: str, purpose: Purpose, state: str | None) -> SendOutcome | None:
        try:
            opted_out = self.opt_outs.is_opted_out(to)
        # Unknown opt-out state: do not risk texting someone who said STOP.
        except Exception as error:
            logger.warning("opt-out check failed (%s); text not sent", type(error).__name__)
            return SendOutcome(False, 0, "opt-out state unavailable")
        if opted_out:
            return SendOutcome(False, 0, "recipient opted out")
        if purpose is Purpose.PROACTIVE and not may_text_now(self.clock(), state,
                                                             self.fallback_zone):
            return SendOutcome(False, 0, "quiet hours for the recipient")
        return None

    def _send_with_retries(self, to: str, body: str) -> SendOutcome:
        delay, reason = self.first_delay, None
        for attempt in range(1, self.attempts + 1):
            try:
                self.transport(to, body)
                return SendOutcome(True, attempt)
            except Exception as failure:  # any Twilio or network error is retried the same way
                reason = type(failure).__name__
                logger.warning("outbound text attempt %d failed (%s)", attempt, reason)
                if attempt < self.attempts:
                    self.sleep(delay)
                    delay *= 2
        return SendOutcome(False, self.attempts, reason)
