"""The chat widget's socket.io channel, on a real Sanic server and a real socket.io client.

The assistant is stood in for by a function that answers "You said: ..."; everything between
it and the socket (rooms, signed ids, limits, the crisis net, pushes) is the real channel.
The whole assistant behind the widget is tested in a browser (tests/test_stack_widget.py),
which also covers the WebSocket transport: the Python client's needs a newer aiohttp than
Rasa allows, so here the client long-polls.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import urllib.error
import urllib.request
import uuid
from unittest import mock

import pytest
import socketio
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Sanic
from sanic.touchup import TouchUp

from bot.handoff import service
from bot.leads.submission import HandoffPriority, HandoffRequest, Submission
from connectors import limits, safety, website_access
from connectors.web import VENDORED_CLIENT, VENDORED_SHA256, widget_bundle
from connectors.website_chat import WebsiteChatInput, visitor_message
from scripts.stack import free_port

REPLY_WAIT_S = 5
ROUTINE = HandoffRequest("request_human", HandoffPriority.ROUTINE)


@pytest.fixture(autouse=True)
def private_state(tmp_path, monkeypatch):
    """Secrets, leads and limits of this test's own, and no staff texts."""
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'leads.db'}")
    monkeypatch.setenv("LEAD_SPOOL_DIR", str(tmp_path / "spool"))
    for cached in (website_access._id_secret, limits.per_address_limiter,
                   limits.per_conversation_limiter, limits.new_conversations_limiter):
        cached.cache_clear()
    moved = []

    async def fake_raise(conversation_id, channel):
        moved.append(conversation_id)

    monkeypatch.setattr(safety, "raise_handoff_priority", fake_raise)
    monkeypatch.setattr(website_access, "raise_handoff_priority", fake_raise)
    yield moved
    for cached in (website_access._id_secret, limits.per_address_limiter,
                   limits.per_conversation_limiter, limits.new_conversations_limiter):
        cached.cache_clear()


async def echo_assistant(message: UserMessage) -> None:
    await message.output_channel.send_text_message(message.sender_id,
                                                   f"You said: {message.text}")


@contextlib.asynccontextmanager
async def serving(channel, assistant=echo_assistant):
    """The channel's blueprint on a real Sanic server, as Rasa mounts it."""
    app = Sanic(f"chat-test-{uuid.uuid4().hex[:8]}")
    app.blueprint(channel.blueprint(assistant), url_prefix=f"/webhooks/{channel.name()}")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True,
                                     access_log=False)
    # Sanic rewrites some of its own methods when an app starts, and fails when a second app
    # in the process rewrites them again: once is enough (another test may have done it).
    touch_up = TouchUp.run

    def once(app: Sanic) -> None:
        if not all(getattr(target, "__touched__", False) for target, _ in TouchUp._registry):
            touch_up(app)

    with mock.patch.object(TouchUp, "run", once):
        await server.startup()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


class Visitor:
    """A socket.io client that keeps what the server sent it."""

    def __init__(self, transports=("polling",)):
        self.client = socketio.AsyncClient(reconnection=False)
        self.transports = list(transports)
        self.replies: list[dict] = []
        self.history: list | None = None
        self.statuses: list[dict] = []
        self.echoes: list[dict] = []
        self.session_id: str | None = None
        self.refused: dict | None = None
        self._confirmed = asyncio.Event()
        self._status = asyncio.Event()
        self.client.on("bot_uttered", self.replies.append)
        self.client.on("status", self._status_came)
        self.client.on("user_echo", self.echoes.append)
        self.client.on("history", self._history)
        self.client.on("session_confirm", self._confirm)
        self.client.on("session_refused", self._refuse)

    async def _status_came(self, status):
        self.statuses.append(status)
        self._status.set()

    async def _history(self, history):
        self.history = history

    async def _confirm(self, session_id):
        self.session_id = session_id
        self._confirmed.set()

    async def _refuse(self, refusal):
        self.refused = refusal
        self._confirmed.set()

    async def join(self, url: str, session_id: str | None = None, origin: str | None = None):
        headers = {"Origin": origin} if origin else {}
        await self.client.connect(url, transports=self.transports, headers=headers,
                                  wait_timeout=5)
        await self.client.emit("session_request", {"session_id": session_id})
        await asyncio.wait_for(self._confirmed.wait(), REPLY_WAIT_S)
        if self.session_id:  # the conversation so far and its status follow the id
            await asyncio.wait_for(self._status.wait(), REPLY_WAIT_S)
        return self

    async def say(self, message) -> dict:
        return await self.client.call("user_uttered", {"message": message},
                                      timeout=REPLY_WAIT_S)

    async def wait_for_replies(self, count: int) -> list[str]:
        for _ in range(REPLY_WAIT_S * 20):
            if len(self.replies) >= count:
                break
            await asyncio.sleep(0.05)
        return [reply.get("text") for reply in self.replies]

    async def leave(self):
        # Without abort the client waits for its pending long-poll: up to the 25 s ping.
        await self.client.eio.disconnect(abort=True)


def run(coroutine):
    return asyncio.run(coroutine)


# --- the bug in Rasa's class, and our fix ---------------------------------------------------

async def _reply_through(channel) -> list[str]:
    async with serving(channel) as url:
        visitor = Visitor()
        await visitor.client.connect(url, transports=["polling"], wait_timeout=5)
        await visitor.client.emit("session_request", {"session_id": visitor_id})
        await asyncio.sleep(0.3)
        await visitor.client.emit("user_uttered", {"message": "hello", "session_id": visitor_id})
        texts = await visitor.wait_for_replies(1)
        await visitor.leave()
        return texts


visitor_id = "a-visitor"


def test_rasas_own_socketio_channel_loses_every_reply_with_session_persistence():
    """RasaHQ/rasa#13027 on this venv's python-socketio. If this starts passing with a reply,
    Rasa fixed it and WebsiteChatInput's own session_request can go."""
    assert run(_reply_through(SocketIOInput(session_persistence=True))) == []


def test_our_channel_joins_the_room_and_the_reply_arrives():
    async def scenario():
        async with serving(WebsiteChatInput()) as url:
            visitor = await Visitor().join(url)
            ack = await visitor.say("hello")
            texts = await visitor.wait_for_replies(1)
            await visitor.leave()
            return ack, texts
    ack, texts = run(scenario())
    assert ack == {"ok": True}
    assert texts == ["You said: hello"]


# --- conversation ids ---------------------------------------------------------------------

def test_a_made_up_session_id_gets_a_new_signed_one_and_never_joins_that_room():
    async def scenario():
        async with serving(WebsiteChatInput()) as url:
            owner = await Visitor().join(url)
            await owner.say("my secret")
            intruder = await Visitor().join(url, session_id=owner.session_id + "x")
            guesser = await Visitor().join(url, session_id="web-guess.0000")
            await intruder.say("hi")
            await owner.wait_for_replies(1)
            await intruder.wait_for_replies(1)
            for visitor in (owner, intruder, guesser):
                await visitor.leave()
            return owner, intruder, guesser
    owner, intruder, guesser = run(scenario())
    assert owner.session_id.startswith("web-") and "." in owner.session_id
    assert intruder.session_id not in (owner.session_id, owner.session_id + "x")
    assert guesser.session_id != "web-guess.0000"
    assert [r["text"] for r in owner.replies] == ["You said: my secret"]
    assert [r["text"] for r in intruder.replies] == ["You said: hi"]
    assert intruder.history == [] and guesser.replies == []


def test_a_message_naming_another_conversation_still_goes_to_the_sockets_own():
    seen = []

    async def assistant(message):
        seen.append(message.sender_id)
        await echo_assistant(message)

    async def scenario():
        async with serving(WebsiteChatInput(), assistant) as url:
            mine = await Visitor().join(url)
            other = await Visitor().join(url)
            await mine.client.call("user_uttered", {"message": "hi", "session_id":
                                   other.session_id}, timeout=REPLY_WAIT_S)
            await mine.wait_for_replies(1)
            await asyncio.sleep(0.2)
            await mine.leave()
            await other.leave()
            return mine, other
    mine, other = run(scenario())
    assert seen == [mine.session_id]
    assert other.replies == [] and len(mine.replies) == 1


def test_a_second_tab_with_the_same_id_sees_the_reply_and_what_the_first_sent():
    async def scenario():
        async with serving(WebsiteChatInput()) as url:
            first = await Visitor().join(url)
            second = await Visitor().join(url, first.session_id)
            await first.say("hello from tab one")
            await second.wait_for_replies(1)
            await first.leave()
            await second.leave()
            return first, second
    first, second = run(scenario())
    assert second.session_id == first.session_id
    assert [r["text"] for r in second.replies] == ["You said: hello from tab one"]
    assert second.echoes == [{"text": "hello from tab one"}]
    assert first.echoes == []


# --- pushes from the server (the staff console's path) ------------------------------------

def test_a_counselor_message_pushed_through_the_output_channel_reaches_the_visitor_marked():
    channel = WebsiteChatInput()

    async def scenario():
        async with serving(channel) as url:
            visitor = await Visitor().join(url)
            # What Rasa's /conversations/{id}/tracker/events?output_channel=latest does with a
            # bot event whose metadata names the counselor.
            output = channel.get_output_channel()
            await output.send_response(visitor.session_id, {
                "text": "Hi, I'm Maria. I've read your messages.", "timestamp": 1.0,
                "counselor": {"name": "Maria", "role": "Admissions counselor"}})
            await visitor.wait_for_replies(1)
            await visitor.leave()
            return visitor
    visitor = run(scenario())
    assert visitor.replies == [{"text": "Hi, I'm Maria. I've read your messages.",
                                "counselor": {"name": "Maria", "role": "Admissions counselor"}}]


# --- bad input, limits and the crisis net -------------------------------------------------

@pytest.mark.parametrize("message, error", [
    ({"nested": "dict"}, "'message' must be a string"),
    (["a", "list"], "'message' must be a string"),
    (42, "'message' must be a string"),
])
def test_a_message_that_is_not_a_string_is_refused_with_a_reason(message, error):
    async def scenario():
        async with serving(WebsiteChatInput()) as url:
            visitor = await Visitor().join(url)
            ack = await visitor.say(message)
            await asyncio.sleep(0.2)
            await visitor.leave()
            return ack, visitor
    ack, visitor = run(scenario())
    assert ack == {"ok": False, "error": error}
    assert visitor.replies == []


def test_a_message_before_the_session_request_is_refused_but_a_crisis_is_answered():
    async def scenario():
        async with serving(WebsiteChatInput()) as url:
            client = socketio.AsyncClient(reconnection=False)
            replies = []
            client.on("bot_uttered", replies.append)
            await client.connect(url, transports=["polling"], wait_timeout=5)
            acks = [await client.call("user_uttered", {"message": text}, timeout=REPLY_WAIT_S)
                    for text in ("hi", "i want to kill myself")]
            await asyncio.sleep(0.3)
            await client.eio.disconnect(abort=True)
            return acks, replies
    acks, replies = run(scenario())
    assert acks == [{"ok": False, "error": "send session_request first"}] * 2
    assert len(replies) == 1 and "988" in replies[0]["text"]


def test_a_message_with_extra_arguments_or_binary_attachments_does_not_break_the_channel():
    async def scenario():
        async with serving(WebsiteChatInput()) as url:
            visitor = await Visitor().join(url)
            extra = await visitor.client.call("user_uttered", ({"message": "one"}, "two"),
                                              timeout=REPLY_WAIT_S)
            # A binary event is dropped unread: its attachments are never kept.
            await visitor.client.emit("user_uttered", {"message": b"\x00" * 1000})
            await asyncio.sleep(0.3)
            after = await visitor.say("still here")
            texts = await visitor.wait_for_replies(2)
            await visitor.leave()
            return extra, after, texts
    extra, after, texts = run(scenario())
    assert extra == {"ok": True} and after == {"ok": True}
    assert texts == ["You said: one", "You said: still here"]


@pytest.mark.parametrize("server_class, kept", [(socketio.AsyncServer, 1), (None, 0)])
def test_binary_attachments_announced_by_a_client_are_never_kept(server_class, kept):
    """python-socketio keeps a binary event's attachments until all arrived (the count is the
    client's to choose); ours drops such an event unread."""
    server = (server_class(async_mode="sanic") if server_class
              else WebsiteChatInput().socket_server())
    server.manager.sid_from_eio_sid = lambda eio_sid, namespace: "a-connected-socket"
    run(server._handle_eio_message(
        "eio-1", '5999999-["user_uttered",{"_placeholder":true,"num":0}]'))
    assert len(server._binary_packet) == kept


def test_jsonp_polling_and_pages_from_other_origins_are_refused_on_every_request(monkeypatch):
    import urllib.error
    import urllib.request

    monkeypatch.setenv("WEBSITE_ORIGINS", "https://www.example-recovery.org")

    def status_of(url, origin=None):
        request = urllib.request.Request(url, headers={"Origin": origin} if origin else {})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    async def scenario():
        async with serving(WebsiteChatInput()) as url:
            handshake = f"{url}/socket.io/?EIO=4&transport=polling"
            return [await asyncio.to_thread(status_of, *args) for args in (
                (handshake + "&j=0",), (handshake, "https://evil.example"),
                (handshake, "https://www.example-recovery.org"), (handshake,))]
    assert run(scenario()) == [400, 403, 200, 200]


def test_emoji_html_and_odd_text_reach_the_assistant_as_text(filled):
    async def scenario():
        async with serving(WebsiteChatInput()) as url:
            visitor = await Visitor().join(url)
            for text in ("🙂🙂", "<script>alert(1)</script>", "'; DROP TABLE leads;--", "",
                         "/request_human"):
                await visitor.say(text)
            texts = await visitor.wait_for_replies(5)
            await visitor.leave()
            return texts
    assert run(scenario()) == ["You said: 🙂🙂", "You said: <script>alert(1)</script>",
                               "You said: '; DROP TABLE leads;--", "You said:",
                               "You said: request_human"]


def test_a_huge_message_gets_a_kind_reply_and_a_crisis_in_it_still_gets_988(filled):
    async def scenario():
        async with serving(WebsiteChatInput()) as url:
            visitor = await Visitor().join(url)
            ack = await visitor.say("I want to kill myself " + "x" * 40_000)
            texts = await visitor.wait_for_replies(2)
            await visitor.leave()
            return ack, texts
    ack, texts = run(scenario())
    assert ack == {"ok": False, "error": "too long"}
    assert "988" in texts[0]
    assert texts[1] == filled("utter_message_too_long")


def test_a_crisis_the_assistant_did_not_answer_gets_the_988_reply_on_the_socket():
    async def silent(message):
        return None

    async def scenario():
        async with serving(WebsiteChatInput(), silent) as url:
            visitor = await Visitor().join(url)
            await visitor.say("k1ll mys3lf tonight")
            texts = await visitor.wait_for_replies(1)
            await visitor.leave()
            return texts
    texts = run(scenario())
    assert len(texts) == 1 and "988" in texts[0]


def test_past_the_rate_limit_the_visitor_is_told_to_wait_and_a_crisis_is_still_answered(
        monkeypatch, private_state, filled):
    monkeypatch.setenv("RATE_LIMIT_CONVERSATION_PER_MINUTE", "2")

    async def scenario():
        async with serving(WebsiteChatInput()) as url:
            visitor = await Visitor().join(url)
            acks = [await visitor.say("one"), await visitor.say("two"),
                    await visitor.say("I'm going to overdose")]
            texts = await visitor.wait_for_replies(4)
            await visitor.leave()
            return acks, texts, visitor.session_id
    acks, texts, session_id = run(scenario())
    assert acks[:2] == [{"ok": True}, {"ok": True}]
    assert acks[2]["ok"] is False and acks[2]["retry_after"] > 0
    assert texts[:2] == ["You said: one", "You said: two"]
    assert "988" in texts[2] and texts[3] == filled("utter_rate_limited")
    assert private_state == [session_id]  # their handoff moved to the top of the queue


def test_opening_too_many_conversations_is_refused_kindly(monkeypatch, filled):
    monkeypatch.setenv("RATE_LIMIT_NEW_CONVERSATIONS_PER_HOUR", "2")

    async def scenario():
        async with serving(WebsiteChatInput()) as url:
            visitors = [await Visitor().join(url) for _ in range(3)]
            for visitor in visitors:
                await visitor.leave()
            return visitors
    visitors = run(scenario())
    assert all(v.session_id for v in visitors[:2])
    assert visitors[2].session_id is None
    assert visitors[2].refused["text"] == filled("utter_too_many_new_conversations")
    assert visitors[2].refused["retry_after"] > 0


def test_rejoining_over_and_over_is_rate_limited_like_messages(monkeypatch, filled):
    monkeypatch.setenv("RATE_LIMIT_IP_PER_MINUTE", "3")

    async def scenario():
        async with serving(WebsiteChatInput()) as url:
            first = await Visitor().join(url)
            again = await Visitor().join(url, first.session_id)
            await again.say("hello")
            refused = await Visitor().join(url, first.session_id)
            for visitor in (first, again, refused):
                await visitor.leave()
            return again, refused
    again, refused = run(scenario())
    assert again.session_id and refused.session_id is None
    assert refused.refused["text"] == filled("utter_rate_limited")


def test_only_allowed_origins_may_connect(monkeypatch):
    monkeypatch.setenv("WEBSITE_ORIGINS", "https://www.example-recovery.org")

    async def scenario():
        async with serving(WebsiteChatInput()) as url:
            allowed = await Visitor().join(url, origin="https://www.example-recovery.org")
            await allowed.leave()
            stranger = Visitor()
            with pytest.raises(socketio.exceptions.ConnectionError):
                await stranger.join(url, origin="https://evil.example")
            return allowed
    assert run(scenario()).session_id


# --- where the visitor stands in the queue ------------------------------------------------

def test_a_waiting_visitor_is_told_their_place_in_line(monkeypatch):
    from connectors import website_chat

    class AlwaysOpen:
        def is_admissions_open(self, now):
            return True

    monkeypatch.setattr(website_chat, "readable_profile", lambda path: AlwaysOpen())

    async def scenario():
        async with serving(WebsiteChatInput()) as url:
            first = await Visitor().join(url)
            second = await Visitor().join(url)
            for visitor in (first, second):
                await service.record(Submission(visitor.session_id, "website", handoff=ROUTINE))
            urgent = await Visitor().join(url)
            await service.record(Submission(urgent.session_id, "website", handoff=HandoffRequest(
                "crisis", HandoffPriority.CRISIS)))
            await second.say("are you there?")
            back = await Visitor().join(url, second.session_id)
            for visitor in (first, second, urgent, back):
                await visitor.leave()
            await service.notifications_settled()
            return second, back
    second, back = run(scenario())
    assert second.statuses[0] == {"state": "assistant"}
    # Behind the crisis that came later, and the visitor who asked first.
    assert second.statuses[-1] == {"state": "waiting", "position": 3}
    assert back.statuses == [{"state": "waiting", "position": 3}]


def test_after_hours_the_visitor_is_told_when_they_will_be_contacted(monkeypatch):
    from connectors import website_chat

    class AlwaysClosed:
        def is_admissions_open(self, now):
            return False

        def callback_phrase(self, now):
            return "tomorrow from 8am Central time"

    monkeypatch.setattr(website_chat, "readable_profile", lambda path: AlwaysClosed())

    async def scenario():
        async with serving(WebsiteChatInput()) as url:
            visitor = await Visitor().join(url)
            await service.record(Submission(visitor.session_id, "website", handoff=ROUTINE))
            await visitor.say("hello?")
            await visitor.leave()
            await service.notifications_settled()
            return visitor
    assert run(scenario()).statuses[-1] == {"state": "after_hours",
                                            "callback": "tomorrow from 8am Central time"}


def test_with_the_profile_unreadable_a_waiting_visitor_is_still_told_their_place(
        unreadable_profile):
    # The hours are unknown, so no callback time is made up; the place in line is known.
    async def scenario():
        async with serving(WebsiteChatInput()) as url:
            visitor = await Visitor().join(url)
            await service.record(Submission(visitor.session_id, "website", handoff=ROUTINE))
            answer = await visitor.say("hello?")
            await visitor.leave()
            await service.notifications_settled()
            return visitor, answer
    visitor, answer = run(scenario())
    assert answer == {"ok": True}
    assert visitor.statuses[-1] == {"state": "waiting", "position": 1}


def _get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refusal:
        return refusal.code, refusal.read()


def test_with_the_profile_unreadable_the_widget_still_loads_with_its_crisis_line(
        unreadable_profile, monkeypatch):
    async def fetch(path):
        async with serving(WebsiteChatInput()) as url:
            return await asyncio.to_thread(_get, url + path)

    status, script = run(fetch("/webhooks/website/widget.js"))
    assert status == 200
    script = script.decode()
    assert "In danger or thinking about suicide? Call 911, or call or text 988." in script
    assert "Chat with the center" in script
    assert "call the center's admissions line" in script
    assert "{facility_" not in script
    # The sample page is the center's details and nothing else: refused, and says why.
    status, page = run(fetch("/webhooks/website/sample"))
    assert status == 503 and b"facility profile cannot be read" in page
    # Once the profile reads again (the center fixed it), the widget names the center again.
    from bot import facility

    monkeypatch.setattr(facility, "load_profile",
                        lambda path: facility.parse_profile(facility.read_profile_file(path)))
    status, script = run(fetch("/webhooks/website/widget.js"))
    assert status == 200 and "Chat with Lakeview" in script.decode()


# --- what the widget is sent --------------------------------------------------------------

def test_numbered_choices_in_a_question_become_buttons_with_the_number_as_payload(filled):
    shown = visitor_message({"text": filled("utter_ps_withdrawal_self")})
    assert shown["buttons"] == [
        {"title": "neither", "payload": "1"}, {"title": "signs now", "payload": "2"},
        {"title": "seizure or DTs in the past", "payload": "3"}, {"title": "both", "payload": "4"}]
    assert "buttons" not in visitor_message({"text": "Call 911 or 988. Open 9) to 5)."})


def test_the_widget_bundle_carries_the_pinned_client_and_the_domains_disclosure(filled):
    assert hashlib.sha256(VENDORED_CLIENT.read_bytes()).hexdigest() == VENDORED_SHA256
    body = widget_bundle().body.decode()
    assert json.dumps(filled("utter_disclosure"))[1:-1] in body
    assert "document.cookie" not in body
