"""The website chat widget's channel: Rasa's socket.io channel, fixed and closed by default.

The widget (connectors/web/) talks socket.io to this channel, so the server can push a message
to an open chat at any time: a counselor's reply posted through Rasa's HTTP API with
`POST /conversations/{id}/tracker/events?execute_side_effects=true&output_channel=latest`
reaches the visitor live. What differs from Rasa's `SocketIOInput`:
- Rasa 3.6's `session_request` calls `sio.enter_room()` without `await`. On python-socketio
  5.10 and newer that is a coroutine, so the socket never joins its conversation's room and,
  with session persistence, every reply is lost (RasaHQ/rasa#13027). Here it is awaited.
- conversation ids come from the server and are signed (connectors/website_access.py): a
  `session_request` with an id this server did not issue gets a new one, and messages go to
  the conversation bound to the socket, never to an id the message names;
- only pages from WEBSITE_ORIGINS, or from this server, may connect (Rasa's admits any);
- each message goes through the same limits, rate limits and guaranteed crisis reply as every
  other channel, and is acknowledged, so the widget knows it arrived;
- on (re)connecting the socket gets the conversation so far and its place in the queue.

Events, client to server: `session_request {session_id}`, `user_uttered {message}` (acked
with {"ok": bool, "retry_after"?: int}), `status_request`. Server to client:
`session_confirm <id>`, `bot_uttered {text, buttons?, counselor?}`, `history [...]`,
`status {...}`, `user_echo {text}` (the visitor's own message, to their other tabs).
`bot_uttered` carries `several: true` when the question takes more than one of its buttons.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager, AsyncServer

from bot.facility import readable_profile
from bot.handoff import service
from bot.log_redaction import remember_sensitive
from bot.settings import load_settings
from connectors.choices import numbered_choices
from connectors.limits import (
    MAX_MESSAGE_CHARS,
    clean_text,
    client_address,
    text_for_nlu,
)
from connectors.replies import channel_reply
from connectors.safety import crisis_in_message, with_crisis_reply
from connectors.web import widget_routes
from connectors.website_access import (
    CHECKED_WHEN_REFUSED,
    RATE_LIMITED,
    issued_conversation,
    message_wait,
    new_conversation,
    refusal_replies,
    rejoin_wait,
)

logger = logging.getLogger(__name__)
# The Redis pub/sub channel every instance's socket.io server shares (cluster only).
CROSS_INSTANCE_CHANNEL = "iop-website-chat"

CHANNEL = "website"
SOCKETIO_PATH = "/socket.io"
BOT_EVENT = "bot_uttered"
USER_EVENT = "user_uttered"
# A socket.io packet over this is refused by the transport itself; a message that long is
# far past MAX_TEXT_CHARS anyway.
MAX_PACKET_BYTES = 128 * 1024
# A message longer than this is not read at all (a kind reply says so); the widget's text box
# stops at MAX_MESSAGE_CHARS, so only a hand-made client gets here.
MAX_TEXT_CHARS = 32_000
# socket.io's BINARY_EVENT and BINARY_ACK packet types.
BINARY_PACKET_TYPES = ("5", "6")
# A socket asks where it stands in the queue at most this often (the widget: every 30 s).
STATUS_EVERY_S = 5
# The conversation so far, as sent to a socket that (re)joins it.
HISTORY_MESSAGES = 100
# A counselor's name and role as the visitor sees them.
MAX_SPEAKER_CHARS = 60


def origin_allowed(environ: dict) -> bool:
    """Pages this server serves itself (the sample page), and the sites in WEBSITE_ORIGINS.
    A browser page always sends Origin; a client without one (a script, the bench) is no
    page another site could have turned against its visitor."""
    origin = environ.get("HTTP_ORIGIN")
    if not origin:
        return True
    scheme = environ.get("HTTP_X_FORWARDED_PROTO", environ.get("wsgi.url_scheme", "http"))
    own = f"{scheme.split(',')[0].strip()}://{environ.get('HTTP_HOST', '')}"
    return origin == own or origin in load_settings().website_origins


def visitor_message(message: dict[str, Any]) -> dict[str, Any]:
    """A message as the widget shows it: text, buttons (the response's own, or the question's
    numbered choices), and who wrote it when a person did."""
    text = message.get("text") or ""
    shown: dict[str, Any] = {"text": text}
    buttons = [{"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
               for b in message.get("buttons") or [] if isinstance(b, dict)]
    buttons = buttons or numbered_choices(text)
    if buttons:
        shown["buttons"] = buttons
    if buttons and _asks_for_several(message):
        shown["several"] = True
    counselor = message.get("counselor")
    if isinstance(counselor, dict):
        shown["counselor"] = {key: str(counselor.get(key) or "")[:MAX_SPEAKER_CHARS]
                              for key in ("name", "role")}
    return shown


def _asks_for_several(message: dict[str, Any]) -> bool:
    """A question whose response says {"custom": {"choices": "several"}} takes more than one
    of its choices ("reply with all numbers that apply"): the widget lets the visitor pick
    several, then sends them together."""
    custom = message.get("custom")
    return isinstance(custom, dict) and custom.get("choices") == "several"


def _counselor_of(message: dict[str, Any]) -> dict[str, Any] | None:
    counselor = message.get("counselor")
    return counselor if isinstance(counselor, dict) else None


class WebsiteChatOutput(CollectingOutputChannel):
    """Sends each message to the conversation's room as it is produced, and keeps it, so the
    crisis net can see what the dialogue said (connectors/safety.py)."""

    def __init__(self, sio: AsyncServer) -> None:
        super().__init__()
        self.sio = sio
        self._counselor: dict[str, Any] | None = None
        self._custom: Any = None

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        # A bot event posted by staff carries {"counselor": {"name", "role"}} in its metadata;
        # Rasa merges it into the message, and the visitor is shown a person is writing.
        # Rasa sends a response's custom payload as a message of its own, after the text; the
        # text is shown with what the payload says about its choices.
        self._counselor = _counselor_of(message)
        self._custom = message.get("custom")
        try:
            await super().send_response(recipient_id, message)
        finally:
            self._counselor = self._custom = None

    async def _persist_message(self, message: dict[str, Any]) -> None:
        if self._counselor:
            message["counselor"] = self._counselor
        if self._custom and message.get("text"):
            message["custom"] = self._custom
        await super()._persist_message(message)
        shown = visitor_message(message)
        if shown["text"] or shown.get("buttons"):  # a voice-only payload has nothing to show
            await self.sio.emit(BOT_EVENT, shown, room=message["recipient_id"])


# Redis must answer a publish within this; the listener waits this long for a message before
# it looks again (an idle channel is not an error).
REDIS_TIMEOUT_S = 5.0
# After Redis went away, the listener tries again after the first wait, then backs off to the
# longest: messages published while it is not subscribed are missed, so it must not wait long.
FIRST_RESUBSCRIBE_WAIT_S = 0.5
LONGEST_RESUBSCRIBE_WAIT_S = 5.0


def cross_instance_manager() -> Any:
    """With REDIS_URL set (the cluster), a message emitted on one Rasa instance reaches a
    socket connected to another: a counselor's reply posted through instance A reaches a
    visitor whose widget is on B. Unset, python-socketio's in-process manager."""
    redis_url = load_settings().redis_url
    if not redis_url:
        return None
    return CrossInstanceManager(redis_url)


class CrossInstanceManager(AsyncRedisManager):
    """python-socketio's Redis manager, listening without dropping off an idle channel.

    Its listener blocks on the pub/sub connection with the client's socket timeout,
    which the publishing side needs (a Redis that hangs must not hold a turn). On a
    quiet channel that read times out every 5 s: the manager logs an error, sleeps and
    subscribes again, and a counselor's reply published in that gap never reaches the
    other instance. Here the listener asks for the next message with a timeout of its
    own, which comes back empty instead of failing, and resubscribes quickly after a
    real failure. Redis carries each emitted reply on the channel while it is
    delivered and keeps none. A reply reaches sockets on this instance before it is
    published, so with Redis down a visitor here still gets the crisis reply.
    """

    def __init__(self, url: str) -> None:
        super().__init__(url, channel=CROSS_INSTANCE_CHANNEL, logger=logger,
                         redis_options={"socket_timeout": REDIS_TIMEOUT_S,
                                        "socket_connect_timeout": REDIS_TIMEOUT_S})

    async def _redis_listen_with_retries(self) -> Any:
        wait_s = FIRST_RESUBSCRIBE_WAIT_S
        subscribed = False
        while True:
            try:
                if not subscribed:
                    await self._forget_redis()
                    self._redis_connect()
                    await self.pubsub.subscribe(self.channel)
                    subscribed = True
                message = await self.pubsub.get_message(ignore_subscribe_messages=True,
                                                        timeout=REDIS_TIMEOUT_S)
            except Exception as error:  # Redis restarted, unreachable, or refused us
                logger.warning("Live chat messages from other instances paused: Redis "
                               "failed (%s); subscribing again in %.1f s",
                               type(error).__name__, wait_s)
                subscribed = False
                # Never at once: a Redis that refuses the subscription (an ACL without the
                # channel) would otherwise be asked again in a tight loop.
                await asyncio.sleep(wait_s)
                wait_s = min(LONGEST_RESUBSCRIBE_WAIT_S, wait_s * 2)
                continue
            # A read that came back (a message, or a quiet spell): Redis is answering.
            wait_s = FIRST_RESUBSCRIBE_WAIT_S
            if message is not None:
                yield message

    async def _forget_redis(self) -> None:
        # Each attempt makes a new client: the old one's sockets are closed, not left to pile
        # up one per attempt.
        # (A publish still using the old client fails and is retried on the new one.)
        pubsub, redis = getattr(self, "pubsub", None), getattr(self, "redis", None)
        closings = [pubsub.reset() if pubsub is not None else None,
                    redis.close(close_connection_pool=True) if redis is not None else None]
        for closing in filter(None, closings):
            try:
                await closing
            except Exception as error:
                logger.debug("Closing a Redis client: %s", type(error).__name__)


class TextOnlySocketServer(AsyncServer):
    """The widget sends only text packets. A binary event announces attachments that
    python-socketio would keep in memory, however many, until they all arrived: one client
    could fill the server's memory and take every chat down, crisis replies included."""

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if not isinstance(data, str) or data[:1] in BINARY_PACKET_TYPES:
            return  # dropped unread
        await super()._handle_eio_message(eio_sid, data)


class AppAwareSocketBlueprint(SocketBlueprint):
    """Rasa's socket.io blueprint, remembering the app (the channel reads conversations from
    its tracker store), and checking every socket.io request's origin before python-socketio
    sees it."""

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        self.ctx.app = app
        path = self.ctx.socketio_path

        async def only_allowed_pages(request: Request) -> HTTPResponse | None:
            if not request.path.startswith(path):
                return None
            # engine.io answers `j=` (JSONP) polling through a <script> tag, which carries no
            # Origin: any site could open a session that way. The widget never uses it.
            if "j" in request.args:
                return response.text("JSONP polling is not supported", status=400)
            # A page's Origin says http(s) also for its WebSocket, whose own scheme is ws(s).
            scheme = "https" if request.scheme in ("https", "wss") else "http"
            if not origin_allowed({"HTTP_ORIGIN": request.headers.get("origin"),
                                   "HTTP_HOST": request.headers.get("host", ""),
                                   "HTTP_X_FORWARDED_PROTO": request.headers.get(
                                       "x-forwarded-proto", scheme)}):
                return response.text("this site may not use the chat", status=403)
            return None

        app.register_middleware(only_allowed_pages, "request")
        super().register(app, options)


class WebsiteChatInput(SocketIOInput):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WebsiteChatInput:
        # Events, path and persistence are what the widget speaks; nothing to configure.
        return cls()

    def __init__(self) -> None:
        super().__init__(USER_EVENT, BOT_EVENT, None, True, SOCKETIO_PATH)

    def get_output_channel(self) -> WebsiteChatOutput | None:
        """For messages posted through Rasa's HTTP API (`output_channel=latest`)."""
        return WebsiteChatOutput(self.sio) if self.sio is not None else None

    def socket_server(self) -> AsyncServer:
        # CORS headers come from Rasa's own CORS (`--cors`, the same WEBSITE_ORIGINS): were
        # python-socketio to add them too, browsers would refuse the doubled header. Origins
        # are checked on every socket.io request instead (AppAwareSocketBlueprint), which
        # covers WebSockets as well, where browsers apply no CORS at all.
        return TextOnlySocketServer(async_mode="sanic", cors_allowed_origins=[],
                           max_http_buffer_size=MAX_PACKET_BYTES, cookie=None,
                           logger=False, engineio_logger=False,
                           client_manager=cross_instance_manager())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        handle = with_crisis_reply(on_new_message, acknowledge_waiting=True)
        sio = self.socket_server()
        self.sio = sio
        chat = AppAwareSocketBlueprint(sio, self.socketio_path, "website_chat", __name__)
        widget_routes(chat)

        def tracker_store() -> Any:
            app = getattr(chat.ctx, "app", None)
            return getattr(getattr(app.ctx, "agent", None), "tracker_store", None) if app else None

        @sio.on("connect")
        async def connect(sid: str, environ: dict, _auth: Any = None) -> bool:
            if not origin_allowed(environ):
                logger.warning("website chat: refused a page whose origin is not in "
                               "WEBSITE_ORIGINS")
                return False
            request = environ.get("sanic.request")
            address = client_address(request, load_settings()) if request else "unknown"
            await sio.save_session(sid, {"address": address, "conversation_id": None})
            return True

        @sio.on("session_request")
        async def session_request(sid: str, data: Any = None) -> None:
            session = await sio.get_session(sid)
            wanted = data.get("session_id") if isinstance(data, dict) else None
            conversation_id = issued_conversation(wanted)
            if conversation_id is None:
                conversation_id, wait, reply = await new_conversation(session["address"])
            else:
                wait, reply = await rejoin_wait(session["address"]), RATE_LIMITED
            if wait:
                await sio.emit("session_refused", {
                    "retry_after": wait, "text": channel_reply(reply, CHANNEL)["text"]}, to=sid)
                return
            previous = session.get("conversation_id")
            if previous and previous != conversation_id:
                await sio.leave_room(sid, previous)
            # The fix for RasaHQ/rasa#13027: awaited, the socket is in the room before any
            # reply is sent to it.
            await sio.enter_room(sid, conversation_id)
            session["conversation_id"] = conversation_id
            await sio.save_session(sid, session)
            await sio.emit("session_confirm", conversation_id, to=sid)
            await sio.emit("history", await _history(tracker_store(), conversation_id), to=sid)
            await sio.emit("status", await conversation_status(conversation_id), to=sid)

        @sio.on("status_request")
        async def status_request(sid: str, _data: Any = None) -> None:
            session = await sio.get_session(sid)
            conversation_id = session.get("conversation_id")
            now = time.monotonic()
            if conversation_id and now - session.get("status_at", 0) >= STATUS_EVERY_S:
                session["status_at"] = now
                await sio.save_session(sid, session)
                await sio.emit("status", await conversation_status(conversation_id), to=sid)

        @sio.on(USER_EVENT)
        async def user_uttered(sid: str, data: Any = None, *_ignored: Any) -> dict[str, Any]:
            session = await sio.get_session(sid)
            conversation_id = session.get("conversation_id")
            text = data.get("message") if isinstance(data, dict) else None
            if text is None:
                text = ""
            if not isinstance(text, str):
                return {"ok": False, "error": "'message' must be a string"}
            text = clean_text(text)
            if not conversation_id:
                # No conversation to put it in (its session was refused): never without the
                # crisis reply it may need.
                await _crisis_reply_to_socket(sio, sid, text)
                return {"ok": False, "error": "send session_request first"}
            remember_sensitive(text)
            remember_sensitive(text_for_nlu(text))
            output = WebsiteChatOutput(sio)
            if len(text) > MAX_TEXT_CHARS:
                await _answer_too_long(output, conversation_id, text)
                return {"ok": False, "error": "too long"}
            wait = await message_wait(session["address"], conversation_id)
            if wait:
                for message in await refusal_replies(conversation_id, text, True,
                                                     "utter_rate_limited", CHANNEL):
                    await output.send_response(conversation_id, message)
                return {"ok": False, "retry_after": wait}
            # The visitor's other tabs show what was sent from this one.
            await sio.emit("user_echo", {"text": text[:MAX_MESSAGE_CHARS]}, room=conversation_id,
                           skip_sid=sid)
            message = UserMessage(text_for_nlu(text), output, conversation_id,
                                  input_channel=CHANNEL)
            try:
                await handle(message, text, tracker_store())
            except (Exception, asyncio.CancelledError) as error:  # Rasa's timeout too
                logger.error("website chat: the assistant failed on a message (%s)",
                             type(error).__name__)
                await output.send_text_message(
                    conversation_id, channel_reply("utter_channel_error", CHANNEL)["text"])
            await sio.emit("status", await conversation_status(conversation_id), to=sid)
            return {"ok": True}

        return chat


async def _crisis_reply_to_socket(sio: AsyncServer, sid: str, text: str) -> None:
    match = await crisis_in_message(text[:CHECKED_WHEN_REFUSED])
    if match is not None:
        logger.warning("website chat: crisis message without a conversation: category=%s",
                       match.category)
        reply = channel_reply("utter_crisis", CHANNEL, getattr(match, "language", "en"))
        await sio.emit(BOT_EVENT, visitor_message(reply), to=sid)


async def _answer_too_long(output: WebsiteChatOutput, conversation_id: str, text: str) -> None:
    """Not read by the assistant, but never without the crisis reply it may need."""
    match = await crisis_in_message(text[:CHECKED_WHEN_REFUSED])
    names = ["utter_message_too_long"]
    if match is not None:
        names.insert(0, "utter_crisis")
    language = getattr(match, "language", "en") if match else "en"
    for name in names:
        await output.send_response(conversation_id,
                                   channel_reply(name, CHANNEL, language=language))


async def conversation_status(conversation_id: str) -> dict[str, Any]:
    """What the widget shows beside the chat: waiting for a counselor and the place in line
    during admissions hours, or when they will be contacted after hours."""
    place = await service.place_in_queue(conversation_id)
    if place is None:
        return {"state": "assistant"}
    if place.position is None:
        return {"state": "with_counselor"}
    profile = readable_profile(load_settings().facility_profile_path)
    now = dt.datetime.now(dt.timezone.utc)
    # With the hours unknown (the profile cannot be read) the visitor is still in line: say
    # so, rather than promise a callback time nobody can know.
    if profile is None or profile.is_admissions_open(now):
        return {"state": "waiting", "position": place.position}
    return {"state": "after_hours", "callback": profile.callback_phrase(now)}


async def _history(tracker_store: Any, conversation_id: str) -> list[dict[str, Any]]:
    """The conversation so far as the visitor saw it, for a reload or another tab."""
    if tracker_store is None:
        return []
    try:
        tracker = await tracker_store.retrieve(conversation_id)
    except Exception as error:
        logger.error("website chat: could not read the conversation (%s)", type(error).__name__)
        return []
    if tracker is None:
        return []
    shown: list[dict[str, Any]] = []
    offered: dict[str, str] = {}  # the latest question's buttons, payload to title
    for event in tracker.events:
        if isinstance(event, UserUttered) and event.text:
            # A button sends its payload ("2"); the visitor saw its title, and sees it again.
            shown.append({"from": "visitor", "text": offered.get(event.text, event.text)})
            offered = {}
        elif isinstance(event, BotUttered) and event.text:
            message = {**(event.data or {}), **(event.metadata or {}), "text": event.text}
            shown.append({"from": "assistant", **visitor_message(message)})
            offered = {b["payload"]: b["title"] for b in shown[-1].get("buttons", [])}
    shown = shown[-HISTORY_MESSAGES:]
    for message in shown[:-1]:  # only the latest question's buttons can still be answered
        message.pop("buttons", None)
    return shown
