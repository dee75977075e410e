"""When a proactive text may go out: 8 a.m. to 9 p.m. where the person lives.

The TCPA and state "mini-TCPA" laws restrict unsolicited texts at night, and a text about
addiction treatment arriving at 11 p.m. can also out someone to their household. A reply to a
message the person just sent is exempt: they are awake and waiting for it.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

FIRST_HOUR = 8
LAST_HOUR = 21  # exclusive: nothing from 9 p.m.

# The zone most of each state's people live in (states that span two use the larger).
STATE_TIME_ZONES = {
    "AL": "America/Chicago", "AK": "America/Anchorage", "AZ": "America/Phoenix",
    "AR": "America/Chicago", "CA": "America/Los_Angeles", "CO": "America/Denver",
    "CT": "America/New_York", "DE": "America/New_York", "DC": "America/New_York",
    "FL": "America/New_York", "GA": "America/New_York", "HI": "Pacific/Honolulu",
    "ID": "America/Boise", "IL": "America/Chicago", "IN": "America/Indiana/Indianapolis",
    "IA": "America/Chicago", "KS": "America/Chicago", "KY": "America/New_York",
    "LA": "America/Chicago", "ME": "America/New_York", "MD": "America/New_York",
    "MA": "America/New_York", "MI": "America/Detroit", "MN": "America/Chicago",
    "MS": "America/Chicago", "MO": "America/Chicago", "MT": "America/Denver",
    "NE": "America/Chicago", "NV": "America/Los_Angeles", "NH": "America/New_York",
    "NJ": "America/New_York", "NM": "America/Denver", "NY": "America/New_York",
    "NC": "America/New_York", "ND": "America/Chicago", "OH": "America/New_York",
    "OK": "America/Chicago", "OR": "America/Los_Angeles", "PA": "America/New_York",
    "RI": "America/New_York", "SC": "America/New_York", "SD": "America/Chicago",
    "TN": "America/Chicago", "TX": "America/Chicago", "UT": "America/Denver",
    "VT": "America/New_York", "VA": "America/New_York", "WA": "America/Los_Angeles",
    "WV": "America/New_York", "WI": "America/Chicago", "WY": "America/Denver",
    "PR": "America/Puerto_Rico", "VI": "America/St_Thomas", "GU": "Pacific/Guam",
}


def recipient_zone(state: str | None, fallback_zone: str) -> ZoneInfo:
    """The person's zone from their state; the center's own zone when the state is unknown."""
    return ZoneInfo(STATE_TIME_ZONES.get((state or "").upper(), fallback_zone))


def may_text_now(now: dt.datetime, state: str | None, fallback_zone: str) -> bool:
    local = now.astimezone(recipient_zone(state, fallback_zone))
    return FIRST_HOUR <= local.hour < LAST_HOUR
