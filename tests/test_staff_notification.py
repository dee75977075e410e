"""Every outbound text goes through one sender: opt-outs, quiet hours, retries, no PHI."""
from __future__ import annotations

import datetime as dt

from bot.handoff.notify import notify_oncall, staff_text_for
from bot.messaging.outbound import OutboundSms, Purpose

UTC = dt.timezone.utc
NIGHT_IN_CHICAGO = dt.datetime(2026, 11, 24, 6, 0, tzinfo=UTC)   # midnight
NOON_IN_CHICAGO = dt.datetime(2026, 11, 24, 18, 0, tzinfo=UTC)


class FakeTwilio:
    def __init__(self, failures_before_success: int = 0):
        self.failures_left = failures_before_success
        self.sent: list[tuple[str, str]] = []

    def __call__(self, to: str, body: str) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("twilio unreachable")
        self.sent.append((to, body))


class OptOuts:
    def __init__(self, *numbers: str):
        self.numbers = set(numbers)

    def is_opted_out(self, phone: str) -> bool:
        return phone in self.numbers


def sender(twilio, opt_outs=None, now=NOON_IN_CHICAGO, delays=None) -> OutboundSms:
    return OutboundSms(twilio, opt_outs or OptOuts(), "America/Chicago", clock=lambda: now,
                       sleep=(delays.append if delays is not None else lambda s: None))


def test_every_oncall_number_gets_the_text_without_phi():
    twilio = FakeTwilio()
    outcome = notify_oncall(1, ("+13125550100", "+13125550101"), sender(twilio))
    assert outcome.error is None
    text = "New admissions handoff, priority high: open the console"
    assert twilio.sent == [("+13125550100", text), ("+13125550101", text)]


def test_crisis_handoffs_are_marked_urgent_and_routine_ones_normal():
    assert "priority urgent" in staff_text_for(0)
    assert "priority normal" in staff_text_for(3)


def test_twilio_down_for_a_while_is_retried_with_doubling_delays():
    twilio, delays = FakeTwilio(failures_before_success=2), []
    outcome = notify_oncall(3, ("+13125550100",), sender(twilio, delays=delays))
    assert outcome.error is None and outcome.attempts == 3
    assert delays == [1.0, 2.0]
    assert len(twilio.sent) == 1


def test_twilio_down_throughout_gives_up_and_says_why():
    twilio, delays = FakeTwilio(failures_before_success=99), []
    outcome = notify_oncall(3, ("+13125550100",), sender(twilio, delays=delays))
    assert outcome.error == "ConnectionError" and outcome.attempts == 4
    assert delays == [1.0, 2.0, 4.0]


def test_missing_configuration_is_reported_not_raised():
    assert notify_oncall(1, (), sender(FakeTwilio())).error == "no on-call staff numbers configured"
    assert notify_oncall(1, ("+13125550100",), sender(None)).error == "twilio not configured"


def test_nothing_goes_to_a_number_that_texted_stop_whoever_sends_it():
    twilio = FakeTwilio()
    outbound = sender(twilio, OptOuts("+13125550142"))
    for purpose in (Purpose.REPLY, Purpose.STAFF_ALERT, Purpose.PROACTIVE):
        outcome = outbound.send_blocking("+13125550142", "A counselor here.", purpose)
        assert (outcome.sent, outcome.reason) == (False, "recipient opted out")
    assert notify_oncall(0, ("+13125550142",), outbound).error == "recipient opted out"
    assert twilio.sent == []


def test_a_proactive_text_waits_for_daytime_but_a_reply_or_staff_alert_does_not():
    twilio = FakeTwilio()
    outbound = sender(twilio, now=NIGHT_IN_CHICAGO)
    held = outbound.send_blocking("+13125550142", "Hi, it's Lakeview.", Purpose.PROACTIVE, "IL")
    assert (held.sent, held.reason) == (False, "quiet hours for the recipient")
    assert outbound.send_blocking("+13125550142", "Answer.", Purpose.REPLY, "IL").sent
    assert outbound.send_blocking("+13125550100", "Alert.", Purpose.STAFF_ALERT).sent
    assert twilio.sent == [("+13125550142", "Answer."), ("+13125550100", "Alert.")]
    # 10 p.m. in Chicago is 8 p.m. in Los Angeles: a Californian may be texted.
    assert outbound.send_blocking("+14155550142", "Hi.", Purpose.PROACTIVE, "CA").sent is False
    evening = sender(FakeTwilio(), now=dt.datetime(2026, 11, 24, 4, 0, tzinfo=UTC))
    assert evening.send_blocking("+14155550142", "Hi.", Purpose.PROACTIVE, "CA").sent
    assert not evening.send_blocking("+13125550142", "Hi.", Purpose.PROACTIVE, "IL").sent


def test_an_unknown_opt_out_state_sends_nothing():
    class Broken:
        def is_opted_out(self, phone):
            raise ConnectionError("database down")

    twilio = FakeTwilio()
    outcome = sender(twilio, Broken()).send_blocking("+13125550142", "Hi", Purpose.REPLY)
    assert (outcome.sent, outcome.reason, twilio.sent) == (False, "opt-out state unavailable", [])


def test_a_long_text_goes_as_several_messages_of_at_most_two_segments():
    twilio = FakeTwilio()
    body = "Here is a sentence about the program. " * 20
    assert sender(twilio).send_blocking("+13125550142", body, Purpose.REPLY).sent
    assert len(twilio.sent) > 1 and all(len(text) <= 306 for _, text in twilio.sent)
    assert " ".join(text for _, text in twilio.sent) == body.strip()


def test_the_answer_to_a_crisis_message_reaches_even_an_opted_out_number_at_night():
    twilio = FakeTwilio()
    outbound = sender(twilio, OptOuts("+13125550142"), now=NIGHT_IN_CHICAGO)
    assert outbound.send_blocking("+13125550142", "Call 911. Call or text 988.",
                                  Purpose.CRISIS_REPLY, "IL").sent
    assert twilio.sent == [("+13125550142", "Call 911. Call or text 988.")]
