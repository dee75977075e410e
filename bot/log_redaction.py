"""Keeps PHI out of every log line, whatever library writes it.

Our own code logs ids, categories and outcomes only. Rasa, rasa_sdk and Sanic do not: at
DEBUG Rasa logs each message's text, its slot values and its events; on errors it logs the
text again, and structlog's JSON tracebacks carry every local variable. So each process
installs a log-record factory that rewrites every record as it is made, before any handler,
filter or formatter sees it:
- the message is formatted once and scrubbed: text fields, slot values and event contents
  of Rasa's log formats, phone numbers, emails, long numbers and ID-like tokens, and any
  message text a channel has registered as seen (`remember_sensitive`);
- structlog's JSON lines keep only their event name and level;
- an exception keeps its traceback's file and line numbers and its type, never its message
  or locals.
It runs only for records that pass their logger's level, so INFO costs almost nothing.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import traceback
from collections import OrderedDict
from typing import Any

REDACTED = "[redacted]"
# Loggers of our own code: written never to carry PHI, so only the generic scrubbers apply.
OWN_LOGGERS = ("bot.", "connectors.", "scripts.", "__main__")

_PHONE = re.compile(r"(?<![\w+])(?:\+?1[\s.\-]?)?\(?[2-9]\d{2}\)?[\s.\-]?\d{3}[\s.\-]?\d{4}(?!\w)")
_EMAIL = re.compile(r"[\w.+\-]{1,64}@[\w\-]{1,63}(?:\.[\w\-]{1,63})+")
# Member IDs, ZIP codes, dates of birth: any token with four or more digits in a row, except
# our pseudonymous conversation ids and uuids (they identify nobody).
_SAFE_ID = re.compile(r"(?:web|twilio_sms|twilio_voice)-[\w.\-]+|://[\w.\-]+:\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}"
                      r"-[0-9a-f]{4}-[0-9a-f]{12}|\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?")
# Tokens are found first and then tested, which keeps this linear in the line's length
# (one pattern with a digit run in the middle of two word runs backtracks quadratically).
_TOKEN = re.compile(r"[\w\-]+")
_FOUR_DIGITS = re.compile(r"\d{4}")
# A third-party line longer than this is cut before it is scrubbed: no library line worth
# reading is longer, and every scrubbing pattern then runs on a bounded input.
MAX_SCRUBBED_CHARS = 8000

# Rasa's own formats that carry what a person said or what was extracted from it.
_QUOTED = r"(?:'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\")"
_RASA_FIELDS = [
    # "Received user message 'I want ...' with intent ...", "text 'hi'", and Rasa's warning
    # "Failed to parse arguments in line '/...'".
    re.compile(r"((?:message|text|utterance|line)\s+)'.*?'(?=\s+with\s|\s*$|[,.;])",
               re.IGNORECASE | re.DOTALL),
    # Event reprs: UserUttered(text: ..., intent: ...), BotUttered(text: ..., data: {...}).
    re.compile(r"((?:UserUttered|BotUttered)\(text: ).*?(?=, intent: |, data: |"
               r", use_text_for_featurization|\)(?:,|\]|$))", re.DOTALL),
    re.compile(r"(, data: ).*?(?=\)(?:,|\]|'|$))", re.DOTALL),
    # SlotSet(key: ps_first_name, value: Sam) and `value: ...` in any repr.
    re.compile(r"((?:value|metadata|entities|parse_data)\s*[:=]\s*)"
               r"(?:" + _QUOTED + r"|\{.*?\}(?=[,)])|\[.*?\](?=[,)])|[^,)\n]*)",
               re.IGNORECASE | re.DOTALL),
    # Quoted values in dict, JSON and list reprs ({'ps_first_name': 'Sam'}, ["alcohol"]):
    # every quoted string after ':', '=', '[', ',' or '(' that is not itself a key.
    re.compile(r"((?:[:=]|[\[,(])\s*)" + _QUOTED + r"(?!\s*:)"),
]
# "Validating extracted slots: {...}" and similar: everything after the word "slots".
_SLOTS_TAIL = re.compile(r"(\bslots?\b[^:\n]{0,20}:\s*).*", re.IGNORECASE | re.DOTALL)


class _SeenTexts:
    """The most recent message texts a channel handed to the assistant, for exact matching."""

    def __init__(self, limit: int = 2000):
        self._texts: OrderedDict[str, None] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def add(self, text: str) -> None:
        text = text.strip()
        if len(text) < 4:  # too short to tell apart from ordinary log words
            return
        with self._lock:
            self._texts.pop(text, None)
            self._texts[text] = None
            while len(self._texts) > self._limit:
                self._texts.popitem(last=False)

    def scrub(self, line: str) -> str:
        with self._lock:
            texts = list(self._texts)
        for text in texts:
            if text in line:
                line = line.replace(text, REDACTED)
        return line


_seen = _SeenTexts()


def remember_sensitive(text: str | None) -> None:
    """Registers a message's text so that no log line can carry it verbatim."""
    if text:
        _seen.add(text[:2000])


def scrub(line: str, own: bool = False) -> str:
    """The line with PHI replaced by [redacted]."""
    if not own:
        if len(line) > MAX_SCRUBBED_CHARS:
            line = line[:MAX_SCRUBBED_CHARS] + " [cut]"
        structured = _scrub_structlog(line)
        if structured is not None:
            return structured
        for pattern in _RASA_FIELDS:
            line = pattern.sub(lambda m: m.group(1) + REDACTED, line)
        line = _SLOTS_TAIL.sub(lambda m: m.group(1) + REDACTED, line)
        line = _seen.scrub(line)
    line = _EMAIL.sub(REDACTED, line)
    line = _PHONE.sub(REDACTED, line)
    if not own:
        line = _scrub_numberish(line)
    return line


def _scrub_numberish(line: str) -> str:
    safe = [(m.start(), m.end()) for m in _SAFE_ID.finditer(line)]

    def replace(match: re.Match) -> str:
        if not _FOUR_DIGITS.search(match.group(0)):
            return match.group(0)
        inside_safe = any(start <= match.start() and match.end() <= end for start, end in safe)
        return match.group(0) if inside_safe else REDACTED

    return _TOKEN.sub(replace, line)


def _scrub_structlog(line: str) -> str | None:
    """A line of structlog's JSON renderer with its event and level only; None for others."""
    stripped = line.strip()
    if not (stripped.startswith("{") and stripped.endswith("}") and '"event"' in stripped):
        return None
    try:
        data = json.loads(stripped)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    kept = {key: data[key] for key in ("event", "level", "log_level", "event_key")
            if isinstance(data.get(key), str)}
    if "exception" in data:
        kept["exception"] = _exception_types(data["exception"])
    return json.dumps(kept)


def _exception_types(structured: Any) -> list[str]:
    if not isinstance(structured, list):
        return []
    return [str(item.get("exc_type")) for item in structured if isinstance(item, dict)]


def safe_traceback(exc_info: tuple) -> str:
    """Where it failed and with what type: file, line and function names, no message, no locals."""
    _, error, _ = exc_info
    parts: list[str] = []
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        frames = traceback.extract_tb(error.__traceback__)
        lines = [f'  File "{f.filename}", line {f.lineno}, in {f.name}' for f in frames]
        parts.insert(0, "Traceback (most recent call last):\n" + "\n".join(lines)
                     + f"\n{type(error).__module__}.{type(error).__qualname__}: "
                     + _shown_message(error))
        error = error.__cause__ or error.__context__
    return "\n\nwhich came from:\n".join(reversed(parts)) if parts else ""


def _shown_message(error: BaseException) -> str:
    # The operating system's own words ("Address already in use") carry no personal data and
    # are what an operator needs; anything else may quote a message, a name or a number.
    if type(error) in (OSError, PermissionError, FileNotFoundError, ConnectionRefusedError,
                       TimeoutError) and error.errno is not None:
        return f"[Errno {error.errno}] {error.strerror}"
    return "(message withheld: it may carry personal data)"


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    own = record.name.startswith(OWN_LOGGERS) or record.name in OWN_LOGGERS
    if isinstance(record.msg, BaseException):
        # Sanic logs the exception itself as the message: its text may quote a request.
        message = f"{type(record.msg).__name__} (message withheld)"
    else:
        try:
            message = record.getMessage()
        except Exception:  # a library's malformed format string: keep the template only
            message = str(record.msg)
    record.msg, record.args = scrub(message, own), ()
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = safe_traceback(record.exc_info)
        record.exc_info = None
    return record


_installed = False


def install_log_redaction() -> None:
    """Every log record made in this process from now on is redacted (idempotent)."""
    global _installed
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(make_record(*args, **kwargs))

    logging.setLogRecordFactory(redacting_factory)
    _installed = True
