"""Closed by default, tried as an attacker would: the real Rasa and action servers.

Every attack is refused and changes nothing: no transcript read, no event written, no lead,
no handoff, no staff text. The servers run at DEBUG, and the last test searches every log line
and every file under var/ (the databases aside) for the personal details used in this module.
"""
from __future__ import annotations

import http.client
import itertools
import json
import time
import uuid
import zlib

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.leads.database import ensure_schema, make_engine
from bot.leads.schema import Handoff, Lead
from bot.messaging.pseudonym import conversation_id_for
from scripts.rest_client import WebsiteConversation, post
from scripts.twilio_local import FakeTwilioApi, signed_post, sms_params, twilio_environment
from tests.browser_helpers import Chat
from tests.stack_helpers import throwaway_stack

pytestmark = pytest.mark.stack

STAFF = "+17735550193"
# A whole pre-screen is 13 messages.
CONVERSATION_LIMIT = 16
ADDRESS_LIMIT = 20
NEW_CONVERSATION_LIMIT = 10
# Personal details that must never reach a log line or a file outside the databases.
NAME, PHONE, EMAIL = "Zebulon", "312-555-0178", "zebulon.quartz@example.org"
MEMBER_ID = "QZX9876543"
FREE_TEXT = "marmalade kestrel"
PHI = [NAME, "5550178", "555-0178", "555 0178", EMAIL, "zebulon.quartz", MEMBER_ID, FREE_TEXT]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("security")
    var_dir = workdir / "var"
    with FakeTwilioApi() as twilio:
        env = twilio_environment(twilio, var_dir)
        env.update(ONCALL_STAFF_NUMBERS=STAFF, LOG_LEVEL="DEBUG",
                   LEADS_ENCRYPTION_KEY=Fernet.generate_key().decode(),
                   RATE_LIMIT_CONVERSATION_PER_MINUTE=str(CONVERSATION_LIMIT),
                   RATE_LIMIT_IP_PER_MINUTE=str(ADDRESS_LIMIT),
                   RATE_LIMIT_NEW_CONVERSATIONS_PER_HOUR=str(NEW_CONVERSATION_LIMIT),
                   CLIENT_IP_HEADER="X-Forwarded-For")
        with throwaway_stack(workdir, extra_env=env) as stack:
            engine = make_engine(env["DATABASE_URL"])
            ensure_schema(engine)  # counted from the start, before the assistant writes a lead
            yield stack, twilio, engine, var_dir
            engine.dispose()


_addresses = itertools.count(1)


def visitor(stack) -> WebsiteConversation:
    """A new visitor from an address of their own, so each test has its own allowance.

    The first X-Forwarded-For entry is whatever a client claims; the last is the one our
    proxy added, and the only one the server believes.
    """
    n = next(_addresses)
    address = f"203.0.113.9, 10.0.{n // 250}.{n % 250 + 1}"
    return WebsiteConversation(stack.rasa_url, headers={"X-Forwarded-For": address})


def api(stack, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
    params = {"token": token} if token else {}
    return requests.request(method, f"{stack.rasa_url}{path}", params=params, timeout=30, **kwargs)


def counts(engine) -> tuple[int, int]:
    with Session(engine, future=True) as session:
        return (session.scalar(select(func.count()).select_from(Lead)),
                session.scalar(select(func.count()).select_from(Handoff)))


def settled_staff_texts(twilio) -> int:
    """Staff texts go out in the background: their count once it has stopped moving."""
    count = -1
    while count != len(twilio.texts_to(STAFF)):
        count = len(twilio.texts_to(STAFF))
        time.sleep(1.5)
    return count


def events_of(stack, conversation_id: str) -> list[dict]:
    answer = api(stack, "GET", f"/conversations/{conversation_id}/tracker", stack.api_token)
    assert answer.status_code == 200
    return answer.json()["events"]


# --- Rasa's HTTP API -----------------------------------------------------------------------

@pytest.mark.parametrize("method, path, body", [
    ("GET", "/conversations/{id}/tracker", None),
    ("GET", "/conversations/{id}/story", None),
    ("POST", "/conversations/{id}/tracker/events", [{"event": "bot", "text": "injected"}]),
    ("PUT", "/conversations/{id}/tracker/events", [{"event": "pause"}]),
    ("POST", "/conversations/{id}/execute", {"name": "action_handoff"}),
    ("POST", "/conversations/{id}/trigger_intent", {"name": "request_human"}),
    ("POST", "/model/parse", {"text": "hello"}),
    ("DELETE", "/model", None),
    ("PUT", "/model", {"model_server": {"url": "http://attacker.example/model.tar.gz"}}),
    ("GET", "/status", None),
])
def test_the_http_api_refuses_a_stranger_and_changes_nothing(server, method, path, body):
    stack, twilio, engine, _ = server
    person = visitor(stack)
    person.send(f"hi, my name is {NAME}")
    before_events, before_rows, before_texts = (events_of(stack, person.conversation_id),
                                                counts(engine), len(twilio.requests))
    for token in (None, "wrong-token"):
        answer = api(stack, method, path.format(id=person.conversation_id), token, json=body)
        assert answer.status_code == 401, (method, path, answer.text)
        assert NAME not in answer.text
    assert events_of(stack, person.conversation_id) == before_events
    assert counts(engine) == before_rows and len(twilio.requests) == before_texts
    assert person.texts("how much does it cost")  # the model is still loaded and answering


def test_with_the_token_the_api_answers(server):
    stack, *_ = server
    person = visitor(stack)
    person.send("hello")
    assert events_of(stack, person.conversation_id)


@pytest.mark.parametrize("path", ["/conversations/../webhooks/x/tracker",
                                  "/conversations/..%2Fwebhooks/x/tracker",
                                  "/conversations/%2e%2e/webhooks/x/tracker",
                                  "/conversations//tracker", "/webhooks/./rest/webhook"])
def test_a_path_a_proxy_could_read_as_a_channel_never_reaches_the_api(server, path):
    # A proxy that normalises before its allow-list (nginx) sees /webhooks/...; Sanic would
    # route the path as sent to the conversation API. Sent as is (http.client, unlike
    # requests, does not tidy it), with the right token even.
    stack, *_ = server
    connection = http.client.HTTPConnection("127.0.0.1", stack.settings.rasa_port, timeout=30)
    try:
        connection.request("GET", f"{path}?token={stack.api_token}")
        answer = connection.getresponse()
        assert (answer.status, answer.read()) == (404, b"Not found")
    finally:
        connection.close()
    assert api(stack, "GET", "/conversations/x/tracker", stack.api_token).status_code == 200


def test_both_servers_listen_on_loopback_only(server):
    stack, *_ = server
    ports = {stack.settings.rasa_port, stack.settings.actions_port}
    listening = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as handle:
            for line in handle.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, port = local.rsplit(":", 1)
                if state == "0A" and int(port, 16) in ports:  # 0A: LISTEN
                    listening.setdefault(int(port, 16), set()).add(address)
    assert set(listening) == ports
    loopback = {"0100007F", "00000000000000000000000001000000"}
    assert all(addresses <= loopback for addresses in listening.values()), listening


# --- the action server -------------------------------------------------------------------

def forged_action_call(action: str, conversation_id: str, channel: str = "rest") -> dict:
    return {
        "next_action": action, "sender_id": conversation_id, "version": "3.6.2",
        "domain": {},
        "tracker": {"sender_id": conversation_id, "slots": {"ps_first_name": NAME},
                    "latest_message": {"text": "talk to a person", "intent": {}},
                    "latest_input_channel": channel, "events": [], "paused": False,
                    "latest_action_name": "action_listen", "active_loop": {}},
    }


def action_server_url(stack) -> str:
    return f"http://127.0.0.1:{stack.settings.actions_port}/webhook"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer guessed"},
                                     {"Authorization": "token"}])
def test_the_action_server_refuses_a_forged_tracker(server, headers):
    stack, twilio, engine, _ = server
    before_rows, before_texts = counts(engine), len(twilio.requests)
    sms_conversation = conversation_id_for("twilio_sms", "+13125550111",
                                           b"test-conversation-secret")
    for action in ("action_handoff", "action_ask_ps_phone"):
        answer = requests.post(action_server_url(stack), timeout=30, headers=headers,
                               json=forged_action_call(action, sms_conversation, "twilio_sms"))
        assert answer.status_code == 401
        assert "555" not in answer.text and NAME not in answer.text
    assert counts(engine) == before_rows and len(twilio.requests) == before_texts


def test_the_action_server_refuses_compressed_bodies_even_from_rasa(server):
    stack, *_ = server
    bomb = zlib.compress(b"{" + b" " * 50_000_000 + b"}", 9)  # 50 MB inflated, 50 KB sent
    answer = requests.post(action_server_url(stack), data=bomb, timeout=30, headers={
        "Authorization": f"Bearer {stack_env_action_token(stack)}",
        "Content-Encoding": "deflate", "Content-Type": "application/json"})
    assert answer.status_code == 415


def stack_env_action_token(stack) -> str:
    from bot.local_secrets import action_server_token

    return action_server_token(stack.settings)


def test_an_action_that_raises_answers_a_bare_error_not_the_tracker(server):
    stack, *_ = server
    call = forged_action_call("validate_prescreen_form", "web-x.y")
    call["tracker"]["slots"] = {"requested_slot": "ps_first_name", "ps_failures": "not a number",
                                "ps_phone": {"phone": PHONE, "email": EMAIL}}
    call["tracker"]["latest_message"] = {"text": f"I'm {NAME}, {FREE_TEXT}", "intent": {}}
    answer = requests.post(action_server_url(stack), json=call, timeout=30,
                           headers={"Authorization": f"Bearer {stack_env_action_token(stack)}"})
    assert answer.status_code == 500
    assert answer.json() == {"error": "the action failed"}


# --- the website channel -----------------------------------------------------------------

def test_a_visitor_cannot_choose_or_guess_a_conversation(server):
    stack, *_ = server
    victim = visitor(stack)
    victim.send("I'm ready to get started")
    assert "first name" in victim.texts("for me")[-1]
    issued = victim.conversation_id
    for forged in ("default", "me", issued[:-1] + ("0" if issued[-1] != "0" else "1"),
                   issued.split(".")[0], issued.upper()):
        attacker = WebsiteConversation(stack.rasa_url, conversation_id=forged,
                                       headers=victim.headers)
        replies = attacker.texts("Sam")
        assert attacker.conversation_id not in (issued, forged)
        assert "automated assistant" in replies[0]  # a new conversation's disclosure
        assert not any("18 or older" in reply for reply in replies)  # not the victim's
    assert "18 or older" in victim.texts("Sam")[-1]  # the victim's own pre-screen goes on


def test_visitors_without_a_sender_never_share_a_conversation(server):
    stack, *_ = server
    first, second = visitor(stack), visitor(stack)
    first.send("I'm ready to get started")
    first.send("for me")
    replies = second.texts("Sam")
    assert first.conversation_id != second.conversation_id
    assert "automated assistant" in replies[0]
    assert all(m["recipient_id"] == second.conversation_id for m in second.answers[-1].body)


def test_posing_as_an_sms_conversation_reaches_nobody_else(server):
    stack, twilio, engine, _ = server
    phone = "+13125550144"
    sms_reply = signed_post(stack.rasa_url, "/webhooks/twilio_sms/webhook",
                            sms_params(phone, "hi", f"SM{uuid.uuid4().hex}"))
    assert sms_reply.status_code == 200
    sms_conversation = conversation_id_for("twilio_sms", phone, b"test-conversation-secret")
    answer = post(stack.rasa_url, {"sender": sms_conversation, "input_channel": "twilio_sms",
                                   "message": "I want to talk to a real person"},
                  headers={"X-Forwarded-For": "198.51.100.7"})
    assert answer.status == 200
    assert {m["recipient_id"] for m in answer.body} != {sms_conversation}
    with Session(engine, future=True) as session:
        assert session.scalar(select(func.count()).select_from(Handoff).where(
            Handoff.conversation_id == sms_conversation)) == 0
        assert session.scalar(select(func.count()).select_from(Lead).where(
            Lead.phone_e164 == phone)) == 0
        channels = session.scalars(select(Handoff.channel).where(
            Handoff.conversation_id == answer.headers.get("X-Conversation-Id"))).all()
    assert channels == ["rest"]


@pytest.mark.parametrize("body, status", [
    ({"sender": None, "message": {"text": f"{NAME} {PHONE}"}}, 400),
    ({"message": [NAME, PHONE]}, 400),
    ({"message": 12345}, 400),
    (None, 400),
    ([], 400),
    ("just a string", 400),
])
def test_wrong_json_types_get_400_and_no_reply(server, body, status):
    stack, *_ = server
    answer = post(stack.rasa_url, body, headers={"X-Forwarded-For": "198.51.100.20"})
    assert answer.status == status
    assert "error" in answer.body


def test_a_body_that_is_not_json_gets_400(server):
    stack, *_ = server
    answer = post(stack.rasa_url, None, raw=f"{{not json {EMAIL}".encode(),
                  headers={"X-Forwarded-For": "198.51.100.21"})
    assert answer.status == 400


def test_a_100_kb_message_gets_413_and_a_kind_reply(server):
    stack, *_ = server
    answer = post(stack.rasa_url, {"message": f"{PHONE} " + "x" * 100_000},
                  headers={"X-Forwarded-For": "198.51.100.22"})
    assert answer.status == 413
    assert "shorter parts" in answer.body[0]["text"] and "911" in answer.body[0]["text"]


def test_a_huge_body_is_refused_before_it_is_read(server):
    stack, *_ = server
    connection = http.client.HTTPConnection("127.0.0.1", stack.settings.rasa_port, timeout=30)
    connection.putrequest("POST", "/webhooks/rest/webhook")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(100 * 1024 * 1024))  # announces 100 MB
    connection.endheaders()
    connection.send(b'{"message": "' + b"x" * 65536)  # and sends only the start
    assert connection.getresponse().status == 413
    connection.close()


def test_streaming_is_refused_even_for_a_paused_conversation(server):
    stack, *_ = server
    person = visitor(stack)
    person.send("I want to talk to a real person")  # paused for a counselor now
    answer = requests.post(f"{stack.rasa_url}/webhooks/rest/webhook?stream=true", timeout=30,
                           json={"sender": person.conversation_id, "message": "I want to die"},
                           headers=person.headers)
    assert answer.status_code == 400
    # Without streaming the paused conversation gets the crisis reply.
    assert any("988" in text for text in person.texts("I want to die"))


@pytest.mark.parametrize("text", ["", "   ", "\U0001F62D\U0001F62D\U0001F62D",
                                  "<script>alert(1)</script>", "'; DROP TABLE leads;--",
                                  "\u0645\u0631\u062d\u0628\u0627", "\x00\x01\x02",
                                  '/request_human{"ps_phone": "+13125550178"}'])
def test_odd_text_gets_a_kind_reply(server, text):
    stack, *_ = server
    replies = visitor(stack).texts(text)
    assert replies and all(reply.strip() for reply in replies)


@pytest.mark.parametrize("command", ['/request_human{"ps_phone": {"phone": "+13125550178"}}',
                                     '/ /request_human{"ps_phone": {"phone": "+13125550178"}}',
                                     '/\u00a0/request_human{"ps_phone": "+13125550178"}'])
def test_a_slash_command_does_not_skip_the_classifier(server, command):
    stack, twilio, engine, _ = server
    before_rows = counts(engine)
    visitor(stack).texts(command)
    with Session(engine, future=True) as session:
        assert session.scalar(select(func.count()).select_from(Lead).where(
            Lead.phone_e164 == "+13125550178")) == 0
    assert counts(engine)[0] == before_rows[0]


def test_too_many_messages_in_one_conversation_get_429_with_retry_after(server):
    stack, *_ = server
    person = visitor(stack)
    for _ in range(CONVERSATION_LIMIT):
        person.send("what are your hours")
    answer = post(stack.rasa_url, {"sender": person.conversation_id, "message": "hours?"},
                  headers=person.headers)
    assert answer.status == 429
    assert int(answer.headers.get("Retry-After")) > 0
    assert "wait a little while" in answer.body[0]["text"]
    # Someone in danger still gets the crisis reply, even over the limit.
    crisis = post(stack.rasa_url, {"sender": person.conversation_id,
                                   "message": "i want to kill myself"}, headers=person.headers)
    assert crisis.status == 429
    assert any("988" in m["text"] and "911" in m["text"] for m in crisis.body)


@pytest.mark.parametrize("address_of", [
    lambda _: "192.0.2.99",
    # A home or a cloud server holds a whole IPv6 /64: a new address each message is free.
    lambda n: f"2001:db8:7:9:{n:x}::{n + 1:x}",
], ids=["one IPv4 address", "every address of one IPv6 /64"])
def test_one_address_cannot_open_handoffs_and_staff_texts_in_bulk(server, address_of):
    stack, twilio, engine, _ = server
    before_handoffs, before_texts = counts(engine)[1], settled_staff_texts(twilio)
    answers = [post(stack.rasa_url, {"message": "let me talk to a real person"},
                    headers={"X-Forwarded-For": address_of(n)})
               for n in range(NEW_CONVERSATION_LIMIT + 5)]
    statuses = [answer.status for answer in answers]
    assert statuses.count(200) == NEW_CONVERSATION_LIMIT and statuses.count(429) == 5
    # Told why, in words that fit an hour's wait rather than a few seconds'.
    assert answers[-1].body[0]["text"].startswith("Too many new conversations have started")
    assert counts(engine)[1] - before_handoffs <= NEW_CONVERSATION_LIMIT
    assert settled_staff_texts(twilio) - before_texts <= NEW_CONVERSATION_LIMIT
    # And a crisis from that address, over its limit, still gets the crisis reply.
    crisis = post(stack.rasa_url, {"message": "i want to kill myself"},
                  headers={"X-Forwarded-For": address_of(NEW_CONVERSATION_LIMIT + 9)})
    assert crisis.status == 429 and crisis.body[0]["text"].startswith("Your safety comes first")


def test_in_the_widget_an_address_over_its_limit_still_gets_the_crisis_reply(server, browser):
    # A school, a shelter or a phone carrier puts many people behind one address: one of
    # them may open the chat after the others used up its allowance.
    stack, *_ = server
    address = "198.51.100.88"
    for _ in range(NEW_CONVERSATION_LIMIT):
        post(stack.rasa_url, {"message": "hi"}, headers={"X-Forwarded-For": address})
    context = browser.new_context(extra_http_headers={"X-Forwarded-For": address})
    chat = Chat(context.new_page(), stack.rasa_url).open_page().open()
    chat.page.get_by_text("Too many new conversations have started").wait_for()
    answer = chat.say("i want to kill myself")
    assert any(text.startswith("Your safety comes first") and "988" in text
               and "911" in text for text in answer), answer
    # Not delivered to anyone, and the visitor is told when to try again.
    assert chat.page.get_by_text("Please wait").is_visible()
    assert chat.errors == []
    context.close()


@pytest.mark.parametrize("body", [
    json.dumps({"message": "\ud800 i want to kill myself"}).encode(),  # a lone surrogate
    b'{"message": "caf\xe9, i want to kill myself"}',  # not UTF-8
])
def test_text_no_step_can_encode_still_gets_the_crisis_reply(server, body):
    stack, *_ = server
    answer = post(stack.rasa_url, None, raw=body, headers={"X-Forwarded-For": "198.51.100.31"})
    assert answer.status == 200
    assert any("988" in m.get("text", "") and "911" in m.get("text", "") for m in answer.body)


@pytest.mark.parametrize("text", ["I'm going to take all my pills tonight",
                                  "I have the pills in my hand right now", "Im cutting again",
                                  "i want to kll myself", "voy a tomar todas las pastillas"])
def test_a_person_waiting_for_a_counselor_gets_the_crisis_reply(server, filled, text):
    stack, *_ = server
    person = visitor(stack)
    person.send("I want to talk to a real person")
    # Paused: the counselor answers, not the assistant, which says so.
    assert person.texts("ok, thanks") == [filled("utter_waiting_for_counselor")]
    replies = person.texts(text)
    assert any("911" in reply and "988" in reply for reply in replies), replies


# --- files and logs (last: they check what everything above left behind) -------------------

def test_a_whole_prescreen_and_a_failing_action_with_personal_details(server):
    stack, *_ = server
    person = visitor(stack)
    person.send("I'm ready to get started")
    for answer in ("it's for me", f"I'm {NAME}", "I'm 34", "Illinois 62701",
                   f"alcohol, and {FREE_TEXT}", "1", "1", "1", f"Aetna {MEMBER_ID}",
                   f"{PHONE} or {EMAIL}", "evenings, texts are ok"):
        assert person.texts(answer), answer
    assert person.texts("yes, I agree")
    # The conversation's state corrupted through the API: the next action raises.
    other = visitor(stack)
    other.send("I'm ready to get started")
    corrupt = api(stack, "POST", f"/conversations/{other.conversation_id}/tracker/events",
                  stack.api_token, json=[{"event": "slot", "name": "ps_failures", "value": "x"}])
    assert corrupt.status_code == 200
    other.send(f"for me, I'm {NAME}, {PHONE}")  # the assistant may or may not answer


def test_files_holding_records_are_private(server):
    _, _, _, var_dir = server
    assert var_dir.stat().st_mode & 0o777 == 0o700
    for path in var_dir.rglob("*"):
        mode = path.stat().st_mode & 0o777
        assert mode & 0o077 == 0, f"{path.name} is readable by others ({oct(mode)})"


def test_no_personal_detail_reaches_any_log_line_or_file(server):
    stack, _, _, var_dir = server
    log = stack.log_path.read_text(encoding="utf-8", errors="replace")
    assert '"event": "processor.message.parse"' in log or "Predicted next action" in log  # DEBUG
    assert "the action failed" in log or "an action failed" in log
    files = [p for p in var_dir.rglob("*") if p.is_file() and ".db" not in p.name]
    for name, text in [("log", log)] + [(p.name, p.read_text(errors="replace")) for p in files]:
        lowered = text.lower()
        for secret in PHI:
            assert secret.lower() not in lowered, f"{secret!r} found in {name}"
