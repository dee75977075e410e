"""The staff console: a small Starlette application beside the assistant.

Server-rendered pages (Jinja2, which escapes every value) and one small script for the live
parts (server-sent events). It reads and writes the leads database through the Rasa-free
handoff desk (bot/staff/desk.py), and reads transcripts and sends messages only through Rasa's
HTTP API (bot/handoff/conversation_api.py), never the tracker store.
"""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import logging
import re
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bot.facility import FacilityProfile, cached_profile
from bot.handoff.conversation_api import ConversationApi, ConversationApiError, Transcript
from bot.handoff.resume import NotPaused, resume_conversation
from bot.leads.database import engine_for, ensure_schema
from bot.leads.store import CLAIMED, RESOLVED, WAITING
from bot.local_secrets import rasa_api_token, staff_session_secret
from bot.messaging.outbound import OutboundSms, Purpose
from bot.messaging.twilio_api import outbound_from_settings
from bot.settings import Settings, load_settings
from bot.staff import metrics
from bot.staff.console.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    ConsoleSession,
    LoginThrottle,
    SecurityHeaders,
    SessionSigner,
    csrf_matches,
    new_session,
)
from bot.staff.desk import (
    QUEUE_FILTERS,
    NotFound,
    Refused,
    StaffAccount,
    StaffDesk,
)
from bot.staff.dispositions import DISPOSITIONS, detail_problem
from bot.staff.labels import CONSOLE_WORDS
from bot.staff.passwords import new_password_problem

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
# Forms are small; anything bigger is refused before it is read.
MAX_BODY_BYTES = 64 * 1024
MAX_REPLY_CHARS = 1600
# A text to someone who wrote within this long is a reply (exempt from quiet hours); later,
# it is a proactive text and waits for 8 a.m. to 9 p.m. where they live.
REPLY_WINDOW = dt.timedelta(hours=24)
# How often the live views look for changes: a new handoff shows within about this long.
LIVE_POLL_S = 0.5
# A live stream ends after this long; the browser reconnects at once, and is checked again.
LIVE_STREAM_S = 15 * 60
KEEPALIVE_S = 15
# An open stream checks its session again this often: signing out, a password change or a
# disabled account ends it within this long, not at the stream's end.
SESSION_RECHECK_S = 10
# Live views one account may hold open (a queue and a few conversations, in tabs).
MAX_STREAMS_PER_ACCOUNT = 12
COUNSELOR_ROLE = "admissions counselor"
CALL_OUTCOMES = ("reached", "voicemail", "no_answer", "wrong_number")


@dataclass
class Console:
    """What every request handler shares."""

    settings: Settings
    desk: StaffDesk
    signer: SessionSigner
    throttle: LoginThrottle
    conversations: ConversationApi
    outbound: OutboundSms
    profile: FacilityProfile
    templates: Jinja2Templates
    # Resumes a paused conversation in Rasa (blocking; run in a thread).
    resume: Callable[[str], None]
    # Live streams open now, by account id.
    open_streams: dict[str, int] = field(default_factory=dict)


# --- authentication -------------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Response]]


def staff_only(admin: bool = False, password_change: bool = False,
               by_the_page: bool = False) -> Callable[[Handler], Handler]:
    """Lets a request through only with a valid session (and, for admin pages, an admin's),
    checks the CSRF token on every POST, and signs the session again (idle expiry).

    `by_the_page`: a request the page's script makes by itself (live streams, fragments). It
    does not count as activity, so a tab left open on a PHI screen still signs out when idle.
    """

    def wrap(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            console: Console = request.app.state.console
            found = await _signed_in(request)
            if found is None:
                if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                    target = urllib.parse.quote(request.url.path, safe="/")
                    return RedirectResponse(f"/login?next={target}", status_code=303)
                return Response("Sign in first.", status_code=401, media_type="text/plain")
            account, session = found
            if account.must_change_password and not password_change:
                return RedirectResponse("/password", status_code=303)
            if admin and not account.is_admin:
                return _page(request, "forbidden.html", {}, account, session, status=403)
            if request.method == "POST":
                form = await _form(request)
                sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
                if not csrf_matches(session, sent if isinstance(sent, str) else None):
                    return Response("This form has expired: reload the page and try again.",
                                    status_code=403, media_type="text/plain")
                request.state.form = form
            request.state.account, request.state.session = account, session
            response = await handler(request)
            if request.state.session is not None and not by_the_page:  # None: signed out
                console.signer.write(response, request.state.session)
            return response

        return endpoint

    return wrap


async def _signed_in(request: Request) -> tuple[StaffAccount, ConsoleSession] | None:
    console: Console = request.app.state.console
    session = console.signer.read(request)
    if session is None:
        return None
    account = await asyncio.to_thread(console.desk.account, session.user_id)
    if account is None or account.disabled or session.predates(account.sessions_valid_after):
        return None
    return account, session


async def _form(request: Request) -> FormData:
    try:
        return await request.form(max_files=0, max_fields=40, max_part_size=MAX_BODY_BYTES)
    except HTTPException:
        raise  # too big (BodyLimit, on a body that did not declare its length): stays a 413
    except Exception as error:  # malformed multipart, too many fields
        raise HTTPException(400, "That form could not be read.") from error


def _field(request: Request, name: str, limit: int = 200) -> str:
    value = request.state.form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _page(request: Request, template: str, context: dict[str, Any],
          account: StaffAccount | None = None, session: ConsoleSession | None = None,
          status: int = 200) -> Response:
    console: Console = request.app.state.console
    account = account or getattr(request.state, "account", None)
    session = session or getattr(request.state, "session", None)
    notice = CONSOLE_WORDS["notices"].get(request.query_params.get("notice") or "")
    try:
        notice = notice and notice.format(**context.pop("notice_values", {}))
    except KeyError:
        notice = None  # a notice with blanks only shows where its page fills them in
    return console.templates.TemplateResponse(request, template, {
        "account": account, "csrf": session.csrf_token if session else "",
        "words": CONSOLE_WORDS, "notice": notice,
        "center": console.profile.name, "when": partial(_local_time, console.profile),
        "zone": console.profile.timezone,
        **context}, status_code=status)


def _local_time(profile: FacilityProfile, moment: dt.datetime | None,
                style: str = "%b %d, %I:%M %p") -> str:
    if moment is None:
        return ""
    return moment.astimezone(dt.timezone.utc).astimezone(
        _zone(profile)).strftime(style).replace(" 0", " ")


def _zone(profile: FacilityProfile):
    from zoneinfo import ZoneInfo

    return ZoneInfo(profile.timezone)


def _back(path: str, notice: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?notice={notice}", status_code=303)


# --- sign in and out ------------------------------------------------------------------------

async def login_page(request: Request) -> Response:
    return _page(request, "login.html", {"next": _safe_next(request.query_params.get("next"))})


def _from_another_site(request: Request) -> bool:
    """A sign-in posted by another site's page (login CSRF: the counselor would then work in
    an account the other site chose). Browsers say where a form came from."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site:
        return fetch_site not in ("same-origin", "none")
    # Older browsers: the Origin. Our no-referrer policy makes a browser send "null" for our
    # own forms, so only a real other origin counts.
    origin = request.headers.get("origin")
    return (bool(origin) and origin != "null"
            and urllib.parse.urlsplit(origin).netloc != request.headers.get("host"))


async def login(request: Request) -> Response:
    console: Console = request.app.state.console
    if _from_another_site(request):
        raise HTTPException(403, "Sign in from the console's own page.")
    form = await _form(request)
    username = form.get("username") if isinstance(form.get("username"), str) else ""
    password = form.get("password") if isinstance(form.get("password"), str) else ""
    next_path = _safe_next(form.get("next") if isinstance(form.get("next"), str) else None)
    wait = console.throttle.attempt(username, _client_address(request))
    if wait is not None:
        response = _page(request, "login.html", {"error": "throttled", "next": next_path,
                                                 "username": username[:64]}, status=429)
        response.headers["retry-after"] = str(wait)
        return response
    account = await asyncio.to_thread(console.desk.authenticate, username, password)
    if account is None:
        return _page(request, "login.html", {"error": "wrong", "next": next_path,
                                             "username": username[:64]}, status=401)
    console.throttle.succeeded(username, _client_address(request))
    session = new_session(account.id)
    response = RedirectResponse("/password" if account.must_change_password else next_path,
                                status_code=303)
    console.signer.write(response, session)
    return response


@staff_only(password_change=True)
async def logout(request: Request) -> Response:
    console: Console = request.app.state.console
    await asyncio.to_thread(console.desk.end_sessions, request.state.account.id)
    response = RedirectResponse("/login?notice=signed_out", status_code=303)
    console.signer.clear(response)
    request.state.session = None
    return response


@staff_only(password_change=True)
async def password_page(request: Request) -> Response:
    return _page(request, "password.html", {})


@staff_only(password_change=True)
async def change_password(request: Request) -> Response:
    console: Console = request.app.state.console
    account: StaffAccount = request.state.account
    current, new, again = (_field(request, name, 300) for name in
                           ("current", "new", "again"))
    # A stolen session must not become a way to guess the password: the sign-in's limits.
    address = _client_address(request)
    wait = console.throttle.attempt(account.username, address)
    if wait is not None:
        response = _page(request, "password.html", {"error": CONSOLE_WORDS["login_errors"][
            "throttled"]}, status=429)
        response.headers["retry-after"] = str(wait)
        return response
    checked = await asyncio.to_thread(console.desk.authenticate, account.username, current)
    if checked is not None:
        console.throttle.succeeded(account.username, address)
    problem = ("Your current password is not right." if checked is None
               else "The two new passwords differ." if new != again
               else "Choose a password you have not used here." if new == current
               else new_password_problem(new, account.username))
    if problem:
        return _page(request, "password.html", {"error": problem}, status=400)
    await asyncio.to_thread(console.desk.change_password, account.id, new)
    # Changing the password ended every session of the account; this one goes on, anew.
    request.state.session = new_session(account.id)
    return _back("/queue", "password_changed")


def _safe_next(path: str | None) -> str:
    """Only a path on this console: never another site (an open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/queue"
    return path[:200]


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --- the queue ------------------------------------------------------------------------------

def _queue_filter(request: Request) -> str:
    which = request.query_params.get("filter", "waiting")
    return which if which in QUEUE_FILTERS else "waiting"


async def _queue_context(request: Request) -> dict[str, Any]:
    console: Console = request.app.state.console
    which = _queue_filter(request)
    rows = await asyncio.to_thread(console.desk.queue, request.state.account, which)
    now = dt.datetime.now(dt.timezone.utc)
    open_now = console.profile.is_admissions_open(now)
    return {"rows": rows, "filter": which, "filters": QUEUE_FILTERS, "now": now,
            "open_now": open_now, "waited": _waited,
            "waiting_count": sum(1 for row in rows if row.status == WAITING)}


@staff_only()
async def queue_page(request: Request) -> Response:
    return _page(request, "queue.html", await _queue_context(request))


@staff_only(by_the_page=True)
async def queue_rows(request: Request) -> Response:
    return _page(request, "queue_rows.html", await _queue_context(request))


@staff_only(by_the_page=True)
async def queue_live(request: Request) -> Response:
    """A server-sent event whenever the queue changes; the page then fetches its rows."""
    console: Console = request.app.state.console

    async def changes() -> AsyncIterator[str]:
        seen = await asyncio.to_thread(console.desk.queue_fingerprint)
        waiting = await asyncio.to_thread(console.desk.waiting_ids)
        # As for a conversation: rows drawn before the stream opened are fetched once more.
        yield "retry: 1000\n\nevent: queue\ndata: 0\n\n"
        async for _ in _ticks(request):
            current = await asyncio.to_thread(console.desk.queue_fingerprint)
            if current == seen:
                yield None
                continue
            seen = current
            now_waiting = await asyncio.to_thread(console.desk.waiting_ids)
            arrived = len(now_waiting - waiting)
            waiting = now_waiting
            yield f"event: queue\ndata: {arrived}\n\n"

    return _event_stream(request, changes())


async def _ticks(request: Request) -> AsyncIterator[None]:
    """Yields every LIVE_POLL_S until the browser goes, the session ends or the stream's
    time is up."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + LIVE_STREAM_S
    checked = loop.time()
    while loop.time() < ends:
        await asyncio.sleep(LIVE_POLL_S)
        if await request.is_disconnected():
            return
        if loop.time() - checked >= SESSION_RECHECK_S:
            checked = loop.time()
            if await _signed_in(request) is None:
                return
        yield None


def _event_stream(request: Request, events: AsyncIterator[str | None]) -> Response:
    """`events` yields an event's text, or None when nothing changed (a comment then keeps
    proxies from closing a quiet stream). Refused (429) past an account's open streams."""
    console: Console = request.app.state.console
    account_id = request.state.account.id
    if console.open_streams.get(account_id, 0) >= MAX_STREAMS_PER_ACCOUNT:
        return Response("Too many live views are open: close some tabs.", status_code=429,
                        media_type="text/plain")
    console.open_streams[account_id] = console.open_streams.get(account_id, 0) + 1

    async def with_keepalive() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        last = loop.time()
        try:
            async for event in events:
                if event is None and loop.time() - last < KEEPALIVE_S:
                    continue
                yield event or ": keepalive\n\n"
                last = loop.time()
        finally:
            remaining = console.open_streams.get(account_id, 1) - 1
            if remaining > 0:
                console.open_streams[account_id] = remaining
            else:
                console.open_streams.pop(account_id, None)

    return StreamingResponse(with_keepalive(), media_type="text/event-stream",
                             headers={"x-accel-buffering": "no"})


def _waited(since: dt.datetime, now: dt.datetime) -> str:
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days"


@staff_only()
async def claim(request: Request) -> Response:
    console: Console = request.app.state.console
    handoff_id = request.path_params["handoff_id"]
    try:
        outcome = await asyncio.to_thread(console.desk.claim, handoff_id, request.state.account)
    except NotFound:
        raise HTTPException(404, "No such handoff.") from None
    return _back(f"/handoffs/{handoff_id}", "claimed" if outcome.won else "taken")


@staff_only(admin=True)
async def reassign(request: Request) -> Response:
    console: Console = request.app.state.console
    handoff_id = request.path_params["handoff_id"]
    try:
        await asyncio.to_thread(console.desk.reassign, handoff_id,
                                _field(request, "to", 64), request.state.account)
    except (NotFound, Refused):
        return _back(f"/handoffs/{handoff_id}", "not_reassigned")
    return _back(f"/handoffs/{handoff_id}", "reassigned")


# --- one conversation -----------------------------------------------------------------------

async def _transcript(console: Console, conversation_id: str) -> Transcript | None:
    try:
        return await console.conversations.transcript(conversation_id)
    except ConversationApiError as error:
        logger.warning("console: transcript unavailable (%s)", error)
        return None


@staff_only()
async def handoff_page(request: Request) -> Response:
    return await _handoff_view(request)


async def _refused(request: Request, notice: str, **draft: str) -> Response:
    """The handoff page again, saying why (a notice key, or the words themselves), with what
    the counselor typed still in the form."""
    words = CONSOLE_WORDS["notices"].get(notice, notice)
    return await _handoff_view(request, {"notice": words, "draft": draft}, status=400)


async def _handoff_view(request: Request, extra: dict[str, Any] | None = None,
                        status: int = 200) -> Response:
    console: Console = request.app.state.console
    account: StaffAccount = request.state.account
    handoff_id = request.path_params["handoff_id"]
    try:
        detail = await asyncio.to_thread(console.desk.handoff_detail, handoff_id, account)
    except NotFound:
        raise HTTPException(404, "No such handoff.") from None
    transcript = await _transcript(console, detail.handoff.conversation_id)
    canned = await asyncio.to_thread(console.desk.canned_replies)
    colleagues = (await asyncio.to_thread(console.desk.accounts)) if account.is_admin else []
    mine = detail.handoff.status == CLAIMED and detail.handoff.claimed_by == account.username
    # Who won a claim race, so the counselor knows whom to ask ("taken" names them).
    holder = detail.handoff.claimed_by_name or detail.handoff.claimed_by or "A colleague"
    extra = {"draft": {}, "notice_values": {"holder": holder}, **(extra or {})}
    return _page(request, "handoff.html", {**extra,
        "detail": detail, "h": detail.handoff, "transcript": transcript, "mine": mine,
        "canned": canned, "colleagues": [c for c in colleagues if not c.disabled],
        "dispositions": DISPOSITIONS, "call_outcomes": CALL_OUTCOMES,
        "disposition_labels": {d.code: d.label for d in DISPOSITIONS},
        "now": dt.datetime.now(dt.timezone.utc), "waited": _waited,
        "statuses": {"waiting": WAITING, "claimed": CLAIMED, "resolved": RESOLVED}},
        status=status)


@staff_only(by_the_page=True)
async def transcript_fragment(request: Request) -> Response:
    console: Console = request.app.state.console
    handoff_id = request.path_params["handoff_id"]
    try:
        row = await asyncio.to_thread(console.desk.handoff_row, handoff_id)
    except NotFound:
        raise HTTPException(404, "No such handoff.") from None
    await asyncio.to_thread(console.desk.audit, request.state.account, "read", "transcript",
                            handoff_id)
    return _page(request, "transcript.html",
                 {"transcript": await _transcript(console, row.conversation_id)})


@staff_only(by_the_page=True)
async def handoff_live(request: Request) -> Response:
    """An event whenever the conversation gains a message (or the handoff changes hands)."""
    console: Console = request.app.state.console
    handoff_id = request.path_params["handoff_id"]
    try:
        row = await asyncio.to_thread(console.desk.handoff_row, handoff_id)
    except NotFound:
        raise HTTPException(404, "No such handoff.") from None

    async def state() -> tuple:
        current = await asyncio.to_thread(console.desk.handoff_row, handoff_id)
        transcript = await _transcript(console, row.conversation_id)
        return (current.status, current.claimed_by,
                transcript.event_count if transcript else None)

    async def changes() -> AsyncIterator[str]:
        seen = await state()
        # The page was drawn a moment before this stream opened: a message that came in
        # between would otherwise wait for the next one. One refresh at the start closes it.
        yield "retry: 1000\n\nevent: transcript\ndata: new\n\n"
        async for _ in _ticks(request):
            current = await state()
            if current == seen:
                yield None
                continue
            if current[2] != seen[2]:
                yield "event: transcript\ndata: new\n\n"
            if current[:2] != seen[:2]:
                yield "event: handoff\ndata: changed\n\n"
            seen = current

    return _event_stream(request, changes())


@staff_only()
async def reply(request: Request) -> Response:
    """Writes to the person on their own channel, as this counselor."""
    console: Console = request.app.state.console
    account: StaffAccount = request.state.account
    handoff_id = request.path_params["handoff_id"]
    page = f"/handoffs/{handoff_id}"
    text = _field(request, "text", MAX_REPLY_CHARS + 1).strip()
    if not text:
        return await _refused(request, "empty_reply")
    if len(text) > MAX_REPLY_CHARS:
        return await _refused(request, "long_reply", text=text)
    try:
        row = await asyncio.to_thread(console.desk.require_holder, handoff_id, account)
    except NotFound:
        raise HTTPException(404, "No such handoff.") from None
    except Refused:
        return await _refused(request, "not_yours", text=text)
    if row.channel == "twilio_voice":
        return await _refused(request, "voice_no_text")
    if row.channel == "twilio_sms":
        return await _reply_by_text(console, account, row, text, page)
    try:
        await console.conversations.add_counselor_message(
            row.conversation_id, text, account.display_name, COUNSELOR_ROLE, deliver=True)
    except ConversationApiError as error:
        logger.warning("console: reply not delivered (%s)", error)
        return await _refused(request, "reply_failed", text=text)
    await asyncio.to_thread(console.desk.record_contact, handoff_id, account, "reply",
                            row.channel, "sent")
    return _back(page, "reply_sent")


async def _reply_by_text(console: Console, account: StaffAccount, row, text: str,
                         page: str) -> Response:
    phone, state = await asyncio.to_thread(console.desk.phone_and_state, row.handoff_id)
    transcript = await _transcript(console, row.conversation_id)
    if not phone or transcript is None:
        return _back(page, "reply_failed")
    wrote = transcript.person_last_wrote
    recent = wrote is not None and dt.datetime.now(dt.timezone.utc) - wrote < REPLY_WINDOW
    outcome = await console.outbound.send(phone, text, Purpose.REPLY if recent
                                          else Purpose.PROACTIVE, state)
    if not outcome.sent:
        await asyncio.to_thread(console.desk.record_contact, row.handoff_id, account, "reply",
                                row.channel, "held", outcome.reason)
        return _back(page, "text_held")
    await asyncio.to_thread(console.desk.record_contact, row.handoff_id, account, "reply",
                            row.channel, "sent")
    try:
        await console.conversations.add_counselor_message(
            row.conversation_id, text, account.display_name, COUNSELOR_ROLE, deliver=False)
    except ConversationApiError as error:
        # The text went out; only its copy in the transcript is missing. Said on the page.
        logger.warning("console: text sent, transcript copy failed (%s)", error)
        return _back(page, "sent_not_stored")
    return _back(page, "reply_sent")


@staff_only()
async def record_call(request: Request) -> Response:
    console: Console = request.app.state.console
    handoff_id = request.path_params["handoff_id"]
    outcome = _field(request, "outcome", 32)
    if outcome not in CALL_OUTCOMES:
        return _back(f"/handoffs/{handoff_id}", "choose_outcome")
    try:
        row = await asyncio.to_thread(console.desk.require_holder, handoff_id,
                                      request.state.account)
    except NotFound:
        raise HTTPException(404, "No such handoff.") from None
    except Refused:
        return _back(f"/handoffs/{handoff_id}", "not_yours")
    await asyncio.to_thread(console.desk.record_contact, handoff_id, request.state.account,
                            "call", row.channel, outcome)
    return _back(f"/handoffs/{handoff_id}", "call_recorded")


@staff_only()
async def add_note(request: Request) -> Response:
    console: Console = request.app.state.console
    handoff_id = request.path_params["handoff_id"]
    try:
        await asyncio.to_thread(console.desk.add_note, handoff_id, request.state.account,
                                _field(request, "body", 5000))
    except NotFound:
        raise HTTPException(404, "No such handoff.") from None
    except Refused:
        return _back(f"/handoffs/{handoff_id}", "empty_note")
    return _back(f"/handoffs/{handoff_id}", "note_saved")


@staff_only()
async def resolve(request: Request) -> Response:
    console: Console = request.app.state.console
    account: StaffAccount = request.state.account
    handoff_id = request.path_params["handoff_id"]
    page = f"/handoffs/{handoff_id}"
    disposition = _field(request, "disposition", 32)
    detail = _field(request, "detail", 201)
    hand_back = _field(request, "after", 16) == "assistant"
    try:
        row = await asyncio.to_thread(console.desk.handoff_row, handoff_id)
    except NotFound:
        raise HTTPException(404, "No such handoff.") from None
    try:
        # Checked before Rasa is touched, so a refused resolution never hands anything back.
        problem = detail_problem(disposition, detail)
        if problem:
            raise Refused(problem)
        if row.status != CLAIMED or (row.claimed_by != account.username
                                     and not account.is_admin):
            raise Refused(CONSOLE_WORDS["notices"]["not_resolved"])
    except Refused as refusal:
        return await _refused(request, str(refusal), detail=detail, disposition=disposition)
    if hand_back:
        try:
            await asyncio.to_thread(console.resume, row.conversation_id)
        except NotPaused:
            pass  # the assistant is already answering it
        except Exception as error:
            logger.warning("console: hand back failed (%s)", type(error).__name__)
            return _back(page, "hand_back_failed")
    try:
        await asyncio.to_thread(console.desk.resolve, handoff_id, account, disposition, detail,
                                hand_back)
    except Refused:
        return _back(page, "not_resolved")
    if hand_back:
        await asyncio.to_thread(console.desk.audit, account, "resume", "conversation",
                                row.conversation_id)
    return _back(page, "resolved")


# --- leads, metrics, admin ------------------------------------------------------------------

def _search_terms(request: Request) -> tuple[str, dt.date | None]:
    text = request.query_params.get("q", "")[:64]
    raw_date = request.query_params.get("date", "")
    try:
        on_date = dt.date.fromisoformat(raw_date) if raw_date else None
    except ValueError:
        on_date = None
    if on_date is not None and not 2000 <= on_date.year <= 2999:
        on_date = None  # nothing came in then (and the day's end would overflow)
    return text, on_date


@staff_only()
async def leads_page(request: Request) -> Response:
    console: Console = request.app.state.console
    text, on_date = _search_terms(request)
    searched = bool(text or on_date)
    found = await asyncio.to_thread(console.desk.search_leads, request.state.account, text,
                                    on_date) if searched else []
    handoffs = {lead.lead_id: await asyncio.to_thread(console.desk.handoffs_of_lead,
                                                      lead.lead_id) for lead in found}
    return _page(request, "leads.html", {"found": found, "q": text, "date": on_date,
                                         "searched": searched, "handoffs": handoffs})


@staff_only()
async def leads_csv(request: Request) -> Response:
    console: Console = request.app.state.console
    text, on_date = _search_terms(request)
    if not (text or on_date):
        # Only what a search found, as on the page: never a bulk copy of everyone's records.
        return Response("Search for a name, a phone number or a day first; the export holds "
                        "what the search found.", status_code=400, media_type="text/plain")
    found = await asyncio.to_thread(console.desk.search_leads, request.state.account, text,
                                    on_date)
    await asyncio.to_thread(console.desk.audit, request.state.account, "export", "leads")
    out = io.StringIO()
    # Every cell quoted: where a spreadsheet splits on ";" instead, a ";" inside a name cannot
    # start a new cell (and with it a formula).
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(["lead_id", "created_at", "channel", "status", "first_name", "phone",
                     "email"])
    for lead in found:
        writer.writerow([lead.lead_id, lead.created_at.isoformat(), lead.channel, lead.status,
                         _csv_safe(lead.first_name), _csv_safe(lead.phone_e164),
                         _csv_safe(lead.email)])
    return Response(out.getvalue(), media_type="text/csv", headers={
        "content-disposition": 'attachment; filename="leads.csv"'})


# A formula sign at the start of a cell, or after anything a spreadsheet may split cells on
# (where the list separator is ";", a quoted "a;=b" still becomes two cells), spaces before
# it included (an import that trims them would see the sign first).
FORMULA_START = re.compile(r"(^|[,;\t\r\n])(\s*)([=+\-@])")


def _csv_safe(value: str | None) -> str:
    """A cell a spreadsheet will not run as a formula: a quote mark before any formula sign
    that could start a cell. A phone number's "+" counts too (read as a sum, it loses it)."""
    return FORMULA_START.sub(r"\1\2'\3", value or "")


@staff_only()
async def metrics_page(request: Request) -> Response:
    console: Console = request.app.state.console
    days = 30 if request.query_params.get("days") == "30" else 14
    figures = await asyncio.to_thread(metrics.figures, console.desk, console.profile, days)
    await asyncio.to_thread(console.desk.audit, request.state.account, "read", "metrics")
    return _page(request, "metrics.html", {"figures": figures, "days": days,
                                           "bars": metrics.bar_widths})


@staff_only()
async def metrics_csv(request: Request) -> Response:
    console: Console = request.app.state.console
    days = 30 if request.query_params.get("days") == "30" else 14
    figures = await asyncio.to_thread(metrics.figures, console.desk, console.profile, days)
    await asyncio.to_thread(console.desk.audit, request.state.account, "export", "metrics")
    return Response(metrics.as_csv(figures), media_type="text/csv", headers={
        "content-disposition": f'attachment; filename="admissions-{days}-days.csv"'})


@staff_only(admin=True)
async def audit_page(request: Request) -> Response:
    console: Console = request.app.state.console
    try:
        page = min(max(0, int(request.query_params.get("page", "0"))), 100_000)
    except ValueError:
        page = 0
    rows = await asyncio.to_thread(console.desk.audit_trail, request.state.account, 200,
                                   page * 200)
    return _page(request, "audit.html", {"rows": rows, "page": page})


@staff_only(admin=True)
async def canned_page(request: Request) -> Response:
    console: Console = request.app.state.console
    return _page(request, "canned.html",
                 {"canned": await asyncio.to_thread(console.desk.canned_replies)})


@staff_only(admin=True)
async def add_canned(request: Request) -> Response:
    console: Console = request.app.state.console
    try:
        await asyncio.to_thread(console.desk.add_canned_reply, request.state.account,
                                _field(request, "title", 81), _field(request, "body", 1001))
    except Refused:
        return _back("/admin/canned", "canned_invalid")
    return _back("/admin/canned", "canned_saved")


@staff_only(admin=True)
async def delete_canned(request: Request) -> Response:
    console: Console = request.app.state.console
    reply_id = request.path_params["reply_id"]
    if reply_id < 2**31:  # anything larger is no row of ours (and overflows the database)
        await asyncio.to_thread(console.desk.delete_canned_reply, request.state.account,
                                reply_id)
    return _back("/admin/canned", "canned_deleted")


async def home(request: Request) -> Response:
    return RedirectResponse("/queue", status_code=303)


async def health(request: Request) -> Response:
    return Response("ok", media_type="text/plain")


async def error_page(request: Request, error: Exception) -> Response:
    status = error.status_code if isinstance(error, HTTPException) else 500
    if status == 500:
        logger.error("console: request failed (%s)", type(error).__name__)
    words = {400: "That request could not be read.", 404: "There is nothing here.",
             405: "That is not something this page does.", 413: "That is too much to send.",
             500: "Something went wrong on our side. Try again."}
    message = words.get(status, "That did not work.")
    body = CONSOLE_WORDS["error_page"].format(message=message)
    return HTMLResponse(body, status_code=status)


class BodyLimit:
    """Refuses a body over MAX_BODY_BYTES with 413, whether or not it declares its length."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            await HTMLResponse("That is too much to send.", status_code=413)(scope, receive, send)
            return
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise HTTPException(413, "That is too much to send.")
            return message

        await self.app(scope, counted, send)


def create_app(settings: Settings | None = None, outbound: OutboundSms | None = None,
               conversations: ConversationApi | None = None,
               resume: Callable[[str], None] | None = None) -> Starlette:
    """The console; tests may hand it their own outbound sender, Rasa API and resume."""
    settings = settings or load_settings()
    profile = cached_profile(settings.facility_profile_path)
    engine = engine_for(settings.database_url)
    ensure_schema(engine)
    token = rasa_api_token(settings)
    console = Console(
        settings=settings,
        desk=StaffDesk(engine, profile.timezone),
        signer=SessionSigner(staff_session_secret(settings), settings.staff_idle_minutes,
                             settings.staff_secure_cookies),
        throttle=LoginThrottle(),
        conversations=conversations or ConversationApi(settings.rasa_url, token),
        outbound=outbound or outbound_from_settings(settings),
        profile=profile,
        templates=Jinja2Templates(directory=str(HERE / "templates")),
        resume=resume or partial(_resume, settings.rasa_url, token),
    )
    routes = [
        Route("/", home),
        Route("/health", health),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/password", password_page, methods=["GET"]),
        Route("/password", change_password, methods=["POST"]),
        Route("/queue", queue_page),
        Route("/queue/rows", queue_rows),
        Route("/queue/live", queue_live),
        Route("/handoffs/{handoff_id}", handoff_page),
        Route("/handoffs/{handoff_id}/transcript", transcript_fragment),
        Route("/handoffs/{handoff_id}/live", handoff_live),
        Route("/handoffs/{handoff_id}/claim", claim, methods=["POST"]),
        Route("/handoffs/{handoff_id}/reassign", reassign, methods=["POST"]),
        Route("/handoffs/{handoff_id}/reply", reply, methods=["POST"]),
        Route("/handoffs/{handoff_id}/call", record_call, methods=["POST"]),
        Route("/handoffs/{handoff_id}/notes", add_note, methods=["POST"]),
        Route("/handoffs/{handoff_id}/resolve", resolve, methods=["POST"]),
        Route("/leads", leads_page),
        Route("/leads.csv", leads_csv),
        Route("/metrics", metrics_page),
        Route("/metrics.csv", metrics_csv),
        Route("/admin/audit", audit_page),
        Route("/admin/canned", canned_page, methods=["GET"]),
        Route("/admin/canned", add_canned, methods=["POST"]),
        Route("/admin/canned/{reply_id:int}/delete", delete_canned, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: error_page,
                                                       Exception: error_page})
    app.state.console = console
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)
    return app


def _resume(rasa_url: str, token: str, conversation_id: str) -> None:
    resume_conversation(conversation_id, rasa_url, token)
