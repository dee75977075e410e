"""On-call staff get a PHI-free text; Twilio failures are retried with backoff and recorded."""
from __future__ import annotations

from bot.handoff.notify import notify_oncall, staff_text_for


class FakeTwilio:
    def __init__(self, failures_before_success: int = 0):
        self.failures_left = failures_before_success
        self.sent: list[tuple[str, str]] = []

    def __call__(self, to: str, body: str) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("twilio unreachable")
        self.sent.append((to, body))


def test_every_oncall_number_gets_the_text_without_phi():
    twilio = FakeTwilio()
    outcome = notify_oncall(1, ("+13125550100", "+13125550101"), twilio, sleep=lambda s: None)
    assert outcome.error is None
    assert twilio.sent == [("+13125550100", "New admissions handoff, priority high: open the console"),
                           ("+13125550101", "New admissions handoff, priority high: open the console")]


def test_crisis_handoffs_are_marked_urgent_and_routine_ones_normal():
    assert "priority urgent" in staff_text_for(0)
    assert "priority normal" in staff_text_for(3)


def test_twilio_down_for_a_while_is_retried_with_doubling_delays():
    twilio, delays = FakeTwilio(failures_before_success=2), []
    outcome = notify_oncall(3, ("+13125550100",), twilio, first_delay=1.0, sleep=delays.append)
    assert outcome.error is None and outcome.attempts == 3
    assert delays == [1.0, 2.0]
    assert len(twilio.sent) == 1


def test_twilio_down_throughout_gives_up_and_says_why():
    twilio, delays = FakeTwilio(failures_before_success=99), []
    outcome = notify_oncall(3, ("+13125550100",), twilio, attempts=4, sleep=delays.append)
    assert outcome.error == "ConnectionError" and outcome.attempts == 4
    assert delays == [1.0, 2.0, 4.0]


def test_missing_configuration_is_reported_not_raised():
    assert notify_oncall(1, (), FakeTwilio()).error == "no on-call staff numbers configured"
    assert notify_oncall(1, ("+13125550100",), None).error == "twilio not configured"
