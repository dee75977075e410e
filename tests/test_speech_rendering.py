"""Replies rendered for a phone call: nothing a voice would stumble over, numbers dialable."""
from __future__ import annotations

import pytest

from bot.messaging.speech import speakable


@pytest.mark.parametrize("written,spoken", [
    ("Call 911 now.", "Call 9 1 1 now."),
    ("call or text 988 any time", "call or text 9 8 8 any time"),
    ("SAMHSA Helpline: 1-800-662-4357, free, 24/7.",
     "Samsa Helpline: 1, 8 0 0, 6 6 2, 4 3 5 7, free, 24 hours a day, 7 days a week."),
    ("or call (555) 010-4400 then", "or call 5 5 5, 0 1 0, 4 4 0 0 then"),
    ("See https://example.org/iop for more.", "See for more."),
    ("We're here for you 💙🙏", "We're here for you"),
    ("**Cost:** about $250 to $450 a week", "Cost: about $250 to $450 a week"),
    ("Open from 8am to 8pm", "Open from 8 a.m. to 8 p.m."),
    ("We call back from 8am.", "We call back from 8 a.m."),
    ("100 Example Ave, Springfield, IL 62701", "100 Example Ave, Springfield, IL 6 2 7 0 1"),
])
def test_written_replies_are_said_the_way_a_caller_needs_them(written, spoken):
    assert speakable(written) == spoken


def test_numbered_menus_become_keypad_choices():
    said = speakable("How often? Reply 1) daily, 2) not daily.")
    assert said == "How often? Press or say 1 for daily, 2 for not daily."


def test_multi_choice_menus_too():
    said = speakable("For your child, reply with all numbers that apply: 1) none, 2) depression.")
    assert said == ("For your child, press or say all numbers that apply: 1 for none, "
                    "2 for depression.")


def test_hours_per_week_and_prices_stay_numbers():
    assert speakable("9 to 19 hours a week, $250") == "9 to 19 hours a week, $250"
