"""SMS keywords every US messaging program must honour: opt-out, opt-in and HELP.

Carriers and the CTIA handbook expect STOP and its synonyms as whole messages; people also
write "stop texting me" or "please unsubscribe", which must work the same way. A sentence that
merely contains "stop" ("how do I stop drinking") is a question for the assistant, not an
opt-out, so plain requests are matched as whole phrases, never as a word inside any message.
"""
from __future__ import annotations

import re
from enum import Enum


class Keyword(Enum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


OPT_OUT_WORDS = frozenset({
    "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "opt out",
    "stop all", "opt-out",
})
OPT_IN_WORDS = frozenset({"start", "unstop", "yes start", "subscribe"})
HELP_WORDS = frozenset({"help", "info"})

# Whole-message requests to stop texts, with or without please/politeness around them.
_PLAIN_OPT_OUT = re.compile(
    r"^(please\s+)?(stop|quit|don'?t|do not|no more)\s+"
    r"(texting|messaging|txting|sending|contacting|texts?|messages?|msgs?)"
    r"(\s+(me|this number|my number|messages|texts))?(\s+(anymore|any more|please|pls))*$"
    r"|^(please\s+)?(unsubscribe|remove|take)\s+(me|my number)"
    r"(\s+(off|from)\s+(this|the|your)\s+list)?"
    r"(\s+(please|pls))?$"
    r"|^(leave me alone|lose my number|wrong number,? stop)$"
)


def _normalise(text: str) -> str:
    lowered = text.strip().lower()
    # Emoji and punctuation around the word ("STOP!!! 😡") do not change what it means.
    lowered = "".join(ch if ch.isalnum() or ch in " '-" else " " for ch in lowered)
    return re.sub(r"\s+", " ", lowered).strip(" '-")


def keyword_of(text: str | None) -> Keyword | None:
    """The keyword a whole inbound SMS is, or None when it is a message for the assistant."""
    if not text:
        return None
    message = _normalise(text)
    if message in OPT_OUT_WORDS or _PLAIN_OPT_OUT.match(message):
        return Keyword.OPT_OUT
    if message in OPT_IN_WORDS:
        return Keyword.OPT_IN
    if message in HELP_WORDS:
        return Keyword.HELP
    return None
