"""The pre-screen's questions, in order, and how each free-text answer is read.

`next_move` decides what one message does to the form: answers the question, interrupts it
(a question about IOP, a crisis), stops it, or earns a specific re-ask. It imports nothing from
Rasa, so the whole decision table is tested as plain functions.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.prescreen import validation as v
from bot.prescreen.extraction import insurer_in, substances_in
from bot.safety.crisis import normalise

# The form's questions, in the order asked. Each is one Rasa slot holding the parsed answer.
FOR_WHOM = "ps_for_whom"
FIRST_NAME = "ps_first_name"
AGE = "ps_age"
LOCATION = "ps_location"
SUBSTANCES = "ps_substances"
USE_PATTERN = "ps_use_pattern"
WITHDRAWAL = "ps_withdrawal"
MENTAL_HEALTH = "ps_mental_health"
INSURANCE = "ps_insurance"
PHONE = "ps_phone"
CONTACT_PREFS = "ps_contact_prefs"
CONSENT = "ps_consent"
QUESTIONS = (FOR_WHOM, FIRST_NAME, AGE, LOCATION, SUBSTANCES, USE_PATTERN, WITHDRAWAL,
             MENTAL_HEALTH, INSURANCE, PHONE, CONTACT_PREFS, CONSENT)

SKIPPED = "skipped"
MAX_FAILURES = 2
# Without these a counselor cannot reach the person, so two failures offer a counselor instead
# of skipping.
NEEDED_TO_FOLLOW_UP = frozenset({PHONE, CONSENT})

# How a pre-screen can end, recorded in the `ps_outcome` slot for the finishing action.
COMPLETED = "completed"
STOPPED = "stopped"
WANTS_COUNSELOR = "wants_counselor"
SUICIDAL_NOW = "suicidal_now"
STUCK = "stuck"

_STOP = re.compile(r"^(stop|quit|cancel|exit|end|never ?mind|nevermind|nvm|later|not now|"
                   r"maybe later|i'll do it later|i'll come back later|no thanks|forget it|"
                   r"i don't want to do this|i don't want to do this anymore|stop asking)\b")
# Intents the pre-screen rules answer in the middle of the form before asking again. A
# message in another language that still reads as an answer ("tengo 45 años") is kept.
ANSWERED_MID_FORM = ("faq", "question_not_covered", "ask_about_bot", "other_language")
_QUESTION_WORDS = re.compile(r"^(what|how|do|does|is|are|can|will|who|where|when|why|which)\b")


@dataclass(frozen=True)
class AnswerContext:
    # The number the channel already knows (SMS, voice): confirmed rather than asked.
    known_phone: str | None = None
    # Member IDs are asked for only when they can be encrypted at rest.
    member_id_wanted: bool = False


@dataclass(frozen=True)
class Move:
    kind: str  # "answer", "interrupt", "stop", "reask"
    value: Any = None  # the parsed answer, for "answer"
    outcome: str | None = None  # for "stop"
    failures: int = 0  # for "reask"


@dataclass(frozen=True)
class Message:
    text: str
    intent: str | None = None
    confidence: float = 0.0
    extra: dict = field(default_factory=dict)


def next_move(question: str, message: Message, failures: int, context: AnswerContext) -> Move:
    text = message.text or ""
    if message.intent == "crisis":
        # The crisis policy answers; the form waits where it was.
        return Move("interrupt")
    if _STOP.match(_plain(text)):
        return Move("stop", outcome=STOPPED)
    if message.intent in ANSWERED_MID_FORM and _looks_like_a_question(text):
        # "Is detox needed for alcohol?" asked at the substances question is a question, and
        # "are you a real person?" deserves its answer before the next question.
        return Move("interrupt")
    value = parse_answer(question, text, context)
    if value is not None:
        if question == MENTAL_HEALTH and value.get("suicidal") == "now":
            return Move("stop", value=value, outcome=SUICIDAL_NOW)
        if question == CONSENT and not value.get("contact"):
            # Without consent nobody may call them; a counselor can still talk here.
            return Move("stop", value=value, outcome=WANTS_COUNSELOR)
        return Move("answer", value=value)
    if message.intent == "request_human":
        return Move("stop", outcome=WANTS_COUNSELOR)
    if message.intent in ANSWERED_MID_FORM:
        # A question about IOP or about the assistant mid-form: answered, then the form resumes.
        return Move("interrupt")
    if v.is_skip(text) and question not in NEEDED_TO_FOLLOW_UP:
        return Move("answer", value=SKIPPED)
    if failures + 1 >= MAX_FAILURES:
        if question in NEEDED_TO_FOLLOW_UP:
            return Move("stop", outcome=STUCK)
        return Move("answer", value=SKIPPED)
    return Move("reask", failures=failures + 1)


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[,.!?;:]+", " ", normalise(text)).split())


def _looks_like_a_question(text: str) -> bool:
    plain = _plain(text)
    return text.strip().endswith("?") or (bool(_QUESTION_WORDS.match(plain))
                                          and len(plain.split()) > 2)


def parse_answer(question: str, text: str, context: AnswerContext) -> Any | None:
    """The stored value for an answer, or None when the answer cannot be used."""
    if not text or not text.strip() or v.is_skip(text):
        # "idk", "skip", "no sé": never read as an answer, whatever a parser's shortcuts say.
        return None
    return _PARSERS[question](text[:1000], context)


def _for_whom(text: str, _context: AnswerContext) -> dict | None:
    who = v.parse_for_whom(text)
    if who is None:
        return None
    relationship = v.relationship_in(text) if who == "loved_one" else None
    return {"for_whom": who, "relationship": relationship}


def _first_name(text: str, _context: AnswerContext) -> str | None:
    return v.parse_first_name(text)


def _age(text: str, _context: AnswerContext) -> str | None:
    return v.parse_age_group(text)


def _location(text: str, _context: AnswerContext) -> dict | None:
    # A ZIP code alone is an answer: it names the state ("60601" -> IL).
    state = v.parse_state(text)
    return {"state": state, "zip": v.parse_zip(text)} if state else None


def _substances(text: str, _context: AnswerContext) -> list[str] | None:
    return substances_in(text) or None


_DAILY = re.compile(r"\b(daily|every ?day|everyday|each day|all day|every morning|every night|"
                    r"most days|constantly|all the time|24/7|several times a day)\b")
_NOT_DAILY = re.compile(r"\b(not daily|not every ?day|weekends?|once a week|few times a week|"
                        r"a couple times a week|sometimes|occasionally|binges?|now and then|"
                        r"once in a while|monthly|on and off)\b")
_RECENT = re.compile(r"\b(today|tonight|this morning|this afternoon|last night|an hour ago|"
                     r"hours ago|right now|yesterday|within 24|in the last 24|last 24|"
                     r"still using|still drinking|still high|drunk now|using now)\b")
_NOT_RECENT = re.compile(r"\b(days ago|a week|weeks ago|a month|months|sober|clean|not recently|"
                         r"not in the last|haven't used|havent used|not since|stopped)\b")


# The numbered menus the questions offer (SMS and keypad users answer with a digit).
_USE_PATTERN_MENU = {1: {"daily": True, "last_24h": True}, 2: {"daily": True, "last_24h": False},
                     3: {"daily": False, "last_24h": True}, 4: {"daily": False, "last_24h": False}}
_WITHDRAWAL_MENU = {1: {"symptoms_now": False, "seizure_or_dts": False},
                    2: {"symptoms_now": True, "seizure_or_dts": False},
                    3: {"symptoms_now": False, "seizure_or_dts": True},
                    4: {"symptoms_now": True, "seizure_or_dts": True}}


def _use_pattern(text: str, _context: AnswerContext) -> dict | None:
    plain = _plain(text)
    picked = _menu_pick(plain, _USE_PATTERN_MENU)
    if picked:
        return picked
    daily = False if _NOT_DAILY.search(plain) else (True if _DAILY.search(plain) else None)
    recent = False if _NOT_RECENT.search(plain) else (True if _RECENT.search(plain) else None)
    if daily is None and recent is None:
        answer = v.parse_yes_no(plain)
        return None if answer is None else {"daily": answer, "last_24h": None}
    return {"daily": daily, "last_24h": recent}


_SYMPTOMS = re.compile(r"\b(shak|tremor|sweat|vomit|throwing up|throw up|nause|sick|chills|"
                       r"withdraw|dope ?sick|cramps|restless|can't sleep|racing heart)")
_SEIZURE_HISTORY = re.compile(r"\b(seizure|seized|fit|dts|d\.t\.s|delirium|hallucinat)")


def _withdrawal(text: str, _context: AnswerContext) -> dict | None:
    plain = _plain(text)
    picked = _menu_pick(plain, _WITHDRAWAL_MENU)
    if picked:
        return picked
    negated_all = re.fullmatch(r"(no|none|nope|neither|nothing|no to both|not really)( .*)?", plain)
    seizure = bool(_SEIZURE_HISTORY.search(plain)) and not re.search(
        r"\bno (seizures?|dts|fits)\b|\bnever (had )?(a )?(seizure|dts)", plain)
    symptoms = bool(_SYMPTOMS.search(plain)) and not re.search(r"\bno (shak|sweat|symptom)", plain)
    if negated_all and not (seizure or symptoms):
        return {"symptoms_now": False, "seizure_or_dts": False}
    if seizure or symptoms:
        return {"symptoms_now": symptoms, "seizure_or_dts": seizure}
    answer = v.parse_yes_no(plain)
    return None if answer is None else {"symptoms_now": answer, "seizure_or_dts": None}


_CONDITIONS = re.compile(r"\b(depress|anxi|ptsd|trauma|bipolar|adhd|schizo|panic|ocd|"
                         r"eating disorder|mental|psych)")
_UNSAFE_HOME = re.compile(r"\b(home is(n't| not) safe|not safe at home|unsafe|abus|violen|"
                          r"everyone (at home )?(uses|drinks)|homeless)")
_RELAPSED = re.compile(r"\b(relapsed|went back to using|tried (outpatient|iop|rehab) before)")
_MOUD = re.compile(r"\b(suboxone|subutex|buprenorphine|methadone|vivitrol|naltrexone|sublocade)")
# The health-and-situation question is one multi-select menu (see utter_ps_mental_health_*).
_SITUATION_OPTIONS = 7


def _mental_health(text: str, _context: AnswerContext) -> dict | None:
    """Mental health, suicidal thoughts, and the situation around recovery, in one question."""
    plain = _plain(text)
    choices = _numbered_choices(plain, _SITUATION_OPTIONS)
    if choices:
        suicidal = "now" if 4 in choices else "past" if 3 in choices else "no"
        return {"co_occurring": 2 in choices, "suicidal": suicidal, "unsafe_home": 5 in choices,
                "relapsed_after_outpatient": 6 in choices, "on_moud": 7 in choices}
    found = {"co_occurring": bool(_CONDITIONS.search(plain)), "suicidal": None,
             "unsafe_home": bool(_UNSAFE_HOME.search(plain)),
             "relapsed_after_outpatient": bool(_RELAPSED.search(plain)),
             "on_moud": bool(_MOUD.search(plain))}
    if re.search(r"\bsuicid|kill myself|end (my|his|her) life|want(ed)? to die", plain):
        return {**found, "suicidal": v.parse_suicidal_thoughts(plain) or "now"}
    if any(found.values()):
        return found
    if v.parse_yes_no(plain) is False:
        return {**found, "suicidal": "no"}
    return None


_MEMBER_ID = re.compile(r"\b(?=[A-Z0-9-]*\d)([A-Z]{0,4}[0-9][A-Z0-9-]{5,19})\b", re.IGNORECASE)


def _insurance(text: str, context: AnswerContext) -> dict | None:
    carrier = insurer_in(text)
    if carrier is None:
        return None
    member_id = None
    if context.member_id_wanted and carrier not in ("self_pay", "none"):
        match = _MEMBER_ID.search(text)
        member_id = match.group(1).upper() if match else None
    return {"carrier": carrier, "member_id": member_id}


def _phone(text: str, context: AnswerContext) -> dict | None:
    email = next((e for e in map(v.parse_email, text.split()) if e), None)
    if context.known_phone and v.parse_yes_no(text) is True:
        return {"phone": context.known_phone, "email": email}
    phone = v.parse_us_phone(re.sub(r"\S+@\S+", " ", text))
    # An email alone is a way to reach them too: kept, with no phone.
    return {"phone": phone, "email": email} if phone or email else None


def reached_by_email_only(phone_answer: Any) -> bool:
    """True when the answer to the phone question was an email and no number."""
    return (isinstance(phone_answer, dict) and not phone_answer.get("phone")
            and bool(phone_answer.get("email")))


def settled_by(question: str, value: Any) -> dict[str, Any]:
    """Later questions an answer makes moot, with the value to store for them.

    With only an email there is no call to time and no voicemail or text to allow, so the
    contact-preferences question is skipped.
    """
    if question == PHONE and reached_by_email_only(value):
        return {CONTACT_PREFS: SKIPPED}
    return {}


_TIMES = re.compile(r"\b(morning|mornings|afternoon|afternoons|evening|evenings|night|nights|"
                    r"anytime|any time|whenever|weekdays?|weekends?|lunch|noon|after work|"
                    r"before work|asap|now|today|tomorrow|\d{1,2}\s?(am|pm|a\.m\.|p\.m\.)|"
                    r"after \d{1,2}|before \d{1,2}|monday|tuesday|wednesday|thursday|friday|"
                    r"saturday|sunday)\b")


def _contact_prefs(text: str, _context: AnswerContext) -> dict | None:
    plain = _plain(text)
    times = [m.group(0) for m in _TIMES.finditer(plain)]
    discreet = bool(re.search(r"\bdiscre|private|don't leave|do not leave|no messages|"
                              r"nobody can know|no one can know|careful", plain))
    no_voicemail = discreet or bool(re.search(r"\bno voice ?mail|don't leave a voice|"
                                              r"text only|only text", plain))
    no_text = discreet or bool(re.search(r"\bno texts?\b|don't text|call only|only call", plain))
    says_ok = bool(re.search(r"\b(ok|okay|fine|sure|yes|either|both)\b", plain))
    if not times and not (discreet or no_voicemail or no_text or says_ok):
        return None
    # Permission is what they said, never what they left out: "evenings after 6" says nothing
    # about voicemail, so a counselor must not leave one (None: unknown, ask first). An "ok"
    # that names neither way covers both.
    names_voicemail = bool(re.search(r"\bvoice ?mail|leave a message|\bmessages?\b", plain))
    names_text = bool(re.search(r"\btext", plain))
    general_ok = says_ok and not (names_voicemail or names_text)

    def permission(refused: bool, named: bool, only: bool = False) -> bool | None:
        if refused:
            return False
        if only or general_ok or (says_ok and named):
            return True
        return None

    # No time named is an unknown time (None), not "any time": a counselor, or the voice line's
    # callback question, still asks.
    return {"best_time": ", ".join(dict.fromkeys(times)) or None,
            "voicemail_ok": permission(no_voicemail, names_voicemail),
            "text_ok": permission(no_text, names_text,
                                  only=bool(re.search(r"\btext only|\bonly text", plain))),
            "discreet": discreet}


def _consent(text: str, _context: AnswerContext) -> dict | None:
    plain = _plain(text)
    if re.search(r"\b(i agree|agree|i consent|consent|accept)\b", plain) and not re.search(
            r"\b(don't|do not|not) (agree|consent|accept)", plain):
        return {"contact": True, "privacy": True}
    answer = v.parse_yes_no(plain)
    return None if answer is None else {"contact": answer, "privacy": answer}


def _menu_pick(plain: str, menu: dict[int, dict]) -> dict | None:
    choices = _numbered_choices(plain, len(menu))
    return dict(menu[choices[0]]) if len(choices) == 1 else None


def _numbered_choices(plain: str, options: int) -> list[int]:
    """"2", "2 and 3", "#3": menu picks, as SMS and keypad users answer."""
    if not re.fullmatch(r"[#\d ,&and]+", plain):
        return []
    picks = [int(n) for n in re.findall(r"\d+", plain)]
    return picks if picks and all(1 <= p <= options for p in picks) else []


_PARSERS: dict[str, Callable[[str, AnswerContext], Any]] = {
    FOR_WHOM: _for_whom, FIRST_NAME: _first_name, AGE: _age, LOCATION: _location,
    SUBSTANCES: _substances, USE_PATTERN: _use_pattern, WITHDRAWAL: _withdrawal,
    MENTAL_HEALTH: _mental_health, INSURANCE: _insurance, PHONE: _phone,
    CONTACT_PREFS: _contact_prefs, CONSENT: _consent,
}
