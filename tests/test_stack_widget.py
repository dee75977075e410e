"""The chat widget in a real browser (Debian's chromium), against the real assistant.

Elements are found by role and accessible name, as a screen-reader user finds them. The
widget lives in an open shadow root, which Playwright's locators pierce.
"""
from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bot.leads.schema import Lead
from bot.settings import PROJECT_ROOT
from scripts.stack import free_port
from tests.browser_helpers import (
    EXIT_URL,
    REPLY_TIMEOUT_MS,
    STORE_PREFIX,
    Chat,
    axe_serious,
)

pytestmark = pytest.mark.stack

RESULTS = PROJECT_ROOT / "results"


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    # Quick exit goes to a neutral site; the test machine has no internet, so it answers here.
    context.route(EXIT_URL + "**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<title>Search</title><p>neutral</p>"))
    yield context
    context.close()


@pytest.fixture
def outside_requests(context, shared_stack):
    """Every request the page makes to anywhere but the assistant's own server."""
    seen = []
    own = shared_stack.rasa_url

    def note(request):
        if not request.url.startswith(own) and not request.url.startswith(EXIT_URL):
            seen.append(request.url)
    context.on("request", note)
    return seen


@pytest.fixture
def chat(context, shared_stack):
    return Chat(context.new_page(), shared_stack.rasa_url)


def test_a_visitor_sees_the_disclosure_first_asks_about_cost_and_reads_the_answer(
        chat, filled, outside_requests):
    chat.open_page().open()
    assert chat.bubbles() == [filled("utter_disclosure")]
    assert "automated assistant" in chat.bubbles()[0] and "not a person" in chat.bubbles()[0]
    expect_focus_in_input = chat.page.evaluate(
        "() => document.querySelector('#admissions-chat-widget').shadowRoot.activeElement.id")
    assert expect_focus_in_input == "chat-input"
    answer = chat.say("how much does the program cost?")
    assert answer == [filled("utter_faq/cost")]
    # The disclosure the assistant opens the conversation with is not shown twice.
    assert chat.bubbles().count(filled("utter_disclosure")) == 1
    crisis_line = chat.page.get_by_text("In danger or thinking about suicide?")
    assert crisis_line.is_visible()
    assert chat.page.get_by_role("link", name="988").get_attribute("href") == "tel:988"
    assert outside_requests == []  # no third-party request of any kind
    assert chat.page.context.cookies() == []
    assert chat.errors == []


def test_a_crisis_message_gets_the_988_reply(chat):
    chat.open_page().open()
    answer = chat.say("i want to k1ll mys3lf")
    assert any("988" in text and "911" in text for text in answer)


def test_the_crisis_line_stays_in_view_however_long_the_conversation(chat):
    chat.open_page().open()
    for text in ("hi", "what are your hours", "where are you", "do you take insurance"):
        chat.say(text)
    line = chat.page.get_by_text("In danger or thinking about suicide?")
    box, panel = line.bounding_box(), chat.page.get_by_role("dialog").bounding_box()
    assert box["y"] >= panel["y"] and box["y"] + box["height"] <= panel["y"] + panel["height"]
    assert line.is_visible()


def test_a_reload_and_a_new_tab_keep_the_conversation(chat, context, filled):
    chat.open_page().open()
    chat.say("how much does the program cost?")
    session = chat.stored_session()
    assert session and session.startswith("web-")
    chat.page.reload()
    chat.open()
    chat.page.get_by_text(filled("utter_faq/cost")).wait_for(timeout=REPLY_TIMEOUT_MS)
    assert "how much does the program cost?" in chat.bubbles("You")
    other_tab = Chat(context.new_page(), chat.base_url).open_page().open()
    other_tab.page.get_by_text(filled("utter_faq/cost")).wait_for(timeout=REPLY_TIMEOUT_MS)
    assert other_tab.stored_session() == session
    # What one tab sends, the other sees, with the answer.
    before = len(other_tab.bubbles())
    chat.say("where are you located?")
    assert other_tab.wait_for_answer(before)
    assert "where are you located?" in other_tab.bubbles("You")


def test_start_over_begins_a_fresh_conversation(chat):
    chat.open_page().open()
    chat.say("how much does the program cost?")
    first = chat.stored_session()
    chat.page.get_by_role("button", name="Start over").click()
    chat.page.wait_for_function(f"""(first) => {{
        const key = Object.keys(localStorage).find(k => k.startsWith('{STORE_PREFIX}'));
        return key && localStorage.getItem(key) !== first;
    }}""", arg=first, timeout=REPLY_TIMEOUT_MS)
    assert chat.bubbles("You") == []
    chat.say("hello")
    assert chat.stored_session() != first


def test_a_message_pushed_through_rasas_api_appears_live_marked_as_a_person(chat, shared_stack):
    chat.open_page().open()
    chat.say("hello")
    conversation = chat.stored_session()
    query = urllib.parse.urlencode({"execute_side_effects": "true", "output_channel": "latest",
                                    "token": shared_stack.api_token})
    event = {"event": "bot", "text": "Hi, this is Maria from admissions. I'm reading now.",
             "metadata": {"counselor": {"name": "Maria", "role": "admissions counselor"}}}
    request = urllib.request.Request(
        f"{shared_stack.rasa_url}/conversations/{conversation}/tracker/events?{query}",
        data=json.dumps(event).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
    pushed = chat.page.get_by_text("Hi, this is Maria from admissions. I'm reading now.")
    pushed.wait_for(timeout=REPLY_TIMEOUT_MS)
    assert chat.bubbles("Maria, admissions counselor (a person)") == [
        "Hi, this is Maria from admissions. I'm reading now."]


def test_the_whole_prescreen_by_keyboard_alone_with_buttons(chat, shared_stack):
    page = chat.page
    chat.open_page()
    page.keyboard.press("Tab")  # the page's own link first, then the widget's launcher
    while "Chat with us" not in chat.focused_text():
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.get_by_role("dialog").is_visible()
    assert "for you, or for someone" in chat.type_by_keyboard("I want to get started")[-1]
    assert "first name" in chat.choose_by_keyboard("For me")[-1]
    assert "18 or older" in chat.type_by_keyboard("Jordan")[-1]
    assert "state" in chat.choose_by_keyboard("18 or older")[-1]
    assert "using" in chat.type_by_keyboard("Illinois")[-1]
    assert "How often" in chat.type_by_keyboard("alcohol")[-1]
    assert "withdrawal" in chat.choose_by_keyboard("daily, not in the last 24 hours")[-1]
    assert "all numbers that apply" in chat.choose_by_keyboard("neither")[-1]
    # A question that takes several answers: pick two, then send them together.
    for title in ("a mental health condition like depression or PTSD",
                  "relapsed after outpatient before"):
        chat.focus_by_keyboard(title)
        page.keyboard.press("Enter")
    assert "insurance" in chat.choose_by_keyboard("Send my choices")[-1]
    assert chat.bubbles("You")[-1] == ("a mental health condition like depression or PTSD; "
                                       "relapsed after outpatient before")
    assert "phone number" in chat.type_by_keyboard("self-pay")[-1]
    assert "good time" in chat.type_by_keyboard("312-555-0142")[-1]
    assert "(yes/no)" in chat.type_by_keyboard("evenings, texts OK")[-1]
    done = chat.choose_by_keyboard("Yes")
    assert any(text.startswith("Thank you, Jordan.") for text in done)
    status = page.get_by_role("status").first
    page.wait_for_function("""() => {
        const s = document.querySelector('#admissions-chat-widget').shadowRoot
          .querySelector('.status').textContent;
        return s.includes('Waiting for a counselor') || s.includes('Admissions is closed');
    }""", timeout=REPLY_TIMEOUT_MS)
    assert re.search(r"You.re number \d+ in line|A counselor will pick up your conversation",
                     status.text_content())
    engine = create_engine(shared_stack.settings.database_url, future=True)
    with Session(engine) as session:
        lead = session.execute(select(Lead).where(
            Lead.conversation_id == chat.stored_session())).scalar_one()
    assert (lead.first_name, lead.phone_e164, lead.state) == ("Jordan", "+13125550142", "IL")
    # Back later: the conversation shows the buttons' words, and opens at its latest message.
    page.reload()
    chat.open()
    page.get_by_text("Thank you, Jordan.", exact=False).wait_for(timeout=REPLY_TIMEOUT_MS)
    assert ["For me", "18 or older", "daily, not in the last 24 hours", "neither", "Yes"] == [
        said for said in chat.bubbles("You") if said in (
            "For me", "18 or older", "daily, not in the last 24 hours", "neither", "Yes")]
    latest, log_box = page.get_by_text("Thank you, Jordan.", exact=False), chat.log.bounding_box()
    box = latest.bounding_box()
    assert log_box["y"] <= box["y"] and box["y"] + box["height"] <= log_box["y"] + log_box["height"]


def test_quick_exit_by_esc_twice_leaves_for_a_neutral_site_and_no_conversation_behind(chat):
    chat.open_page().open()
    chat.say("hello")
    assert chat.stored_session()
    chat.page.keyboard.press("Escape")
    chat.page.keyboard.press("Escape")
    chat.page.wait_for_url(EXIT_URL, timeout=10_000)
    chat.open_page()
    assert chat.page.evaluate("() => Object.keys(localStorage)") == []
    assert chat.page.evaluate("() => Object.keys(sessionStorage)") == []
    chat.open()
    assert chat.bubbles("You") == []  # the conversation is not brought back


def test_quick_exit_in_one_tab_is_not_undone_by_another_open_tab(chat, context):
    chat.open_page().open()
    chat.say("hello from the first tab")
    other = Chat(context.new_page(), chat.base_url).open_page().open()
    other.page.get_by_text("hello from the first tab").wait_for(timeout=REPLY_TIMEOUT_MS)
    chat.page.keyboard.press("Escape")
    chat.page.keyboard.press("Escape")
    chat.page.wait_for_url(EXIT_URL, timeout=10_000)
    other.page.get_by_text("This chat was cleared from this device").wait_for(timeout=10_000)
    # The other tab reconnecting must not put the conversation back on the device.
    context.set_offline(True)
    time.sleep(2)
    context.set_offline(False)
    time.sleep(3)
    assert other.stored_session() is None
    assert other.bubbles("You") == []


def test_quick_exit_button_and_clearing_the_chat_forget_the_conversation(chat):
    chat.open_page().open()
    chat.say("hello")
    chat.page.get_by_role("button", name="Clear this chat from this device").click()
    assert chat.stored_session() is None
    assert chat.bubbles("You") == []
    assert chat.page.get_by_text("This chat was cleared from this device").is_visible()
    chat.say("hello again")
    chat.page.get_by_role("button", name="Quick exit").click()
    chat.page.wait_for_url(EXIT_URL, timeout=10_000)
    chat.open_page()
    assert chat.page.evaluate("() => Object.keys(localStorage)") == []


def test_two_visitors_never_see_each_others_messages(browser, shared_stack):
    contexts = [browser.new_context(), browser.new_context()]
    try:
        alex, blair = (Chat(c.new_page(), shared_stack.rasa_url).open_page().open()
                       for c in contexts)
        alex.say("my name is alex and I drink every day")
        blair.say("how much does it cost")
        alex.say("do you take medicaid")
        assert alex.stored_session() != blair.stored_session()
        assert "my name is alex and I drink every day" not in " ".join(blair.bubbles("You"))
        assert "how much does it cost" not in " ".join(alex.bubbles("You"))
        assert blair.bubbles("You") == ["how much does it cost"]
    finally:
        for context in contexts:
            context.close()


def test_the_chat_works_by_long_polling_where_websockets_are_blocked(chat, context, filled):
    sockets = []
    chat.page.on("websocket", lambda ws: sockets.append(ws.url))
    context.route_web_socket(re.compile(r".*/socket\.io/.*"), lambda ws: ws.close())
    chat.open_page().open()
    assert chat.say("how much does the program cost?") == [filled("utter_faq/cost")]


def test_without_blocking_the_chat_upgrades_to_a_websocket_and_replies_come_over_it(chat):
    frames = []

    def watch(ws):
        ws.on("framereceived", lambda payload: frames.append(payload))
    chat.page.on("websocket", watch)
    chat.open_page().open()
    chat.page.wait_for_timeout(1500)  # the upgrade follows the first long-poll
    chat.say("how much does the program cost?")
    assert any("bot_uttered" in str(frame) for frame in frames)


def test_a_message_typed_offline_is_sent_when_the_connection_is_back(chat, context):
    chat.open_page().open()
    chat.say("hello")
    context.set_offline(True)
    chat.page.wait_for_function("""() => document.querySelector('#admissions-chat-widget')
        .shadowRoot.querySelector('.status').textContent.includes('connection was lost')""",
                                timeout=REPLY_TIMEOUT_MS * 2)
    before = len(chat.bubbles())
    chat.input.fill("how much does the program cost?")
    chat.input.press("Enter")
    assert chat.page.get_by_text("Not sent yet: it will go as soon as the connection is back.") \
        .is_visible()
    context.set_offline(False)
    answer = chat.wait_for_answer(before)
    assert answer and "Self-pay" in answer[-1]
    assert chat.page.get_by_text("Not sent yet").count() == 0


def test_no_serious_accessibility_violations_before_and_after_a_prescreen_question(chat):
    chat.open_page().open()
    assert axe_serious(chat.page) == []
    chat.say("I want to get started")
    chat.page.get_by_role("button", name="For me").wait_for()
    assert axe_serious(chat.page) == []
    chat.say("for me")
    assert axe_serious(chat.page) == []


def test_readable_at_360_px_and_at_200_percent_zoom_with_screenshots(browser, shared_stack):
    RESULTS.mkdir(exist_ok=True)
    for width, height, name in ((360, 740, "widget-360px.png"), (1280, 800, "widget-1280px.png"),
                                (640, 400, "widget-1280px-at-200-percent.png")):
        context = browser.new_context(viewport={"width": width, "height": height})
        try:
            chat = Chat(context.new_page(), shared_stack.rasa_url).open_page().open()
            chat.say("how much does the program cost?")
            chat.say("I want to get started")
            panel = chat.page.get_by_role("dialog").bounding_box()
            assert panel["x"] >= 0 and panel["x"] + panel["width"] <= width
            assert panel["y"] >= 0 and panel["y"] + panel["height"] <= height
            for control in ("Send", "Quick exit", "For me"):
                box = chat.page.get_by_role("button", name=control).bounding_box()
                assert box and 0 <= box["x"] and box["x"] + box["width"] <= width, control
            no_sideways_scroll = chat.page.evaluate(
                "() => document.documentElement.scrollWidth <= window.innerWidth")
            assert no_sideways_scroll
            chat.page.screenshot(path=str(RESULTS / name))
        finally:
            context.close()


def test_on_a_phone_with_its_keyboard_open_every_control_can_still_be_reached(browser,
                                                                            shared_stack):
    context = browser.new_context(viewport={"width": 360, "height": 400})
    try:
        chat = Chat(context.new_page(), shared_stack.rasa_url).open_page().open()
        chat.say("how much does the program cost?")
        for control in ("Send", "Quick exit", "Start over", "Clear this chat from this device"):
            button = chat.page.get_by_role("button", name=control)
            button.scroll_into_view_if_needed()
            box = button.bounding_box()
            assert box["y"] >= 0 and box["y"] + box["height"] <= 400, control
        line = chat.page.get_by_text("In danger or thinking about suicide?").bounding_box()
        assert line["y"] >= 0 and line["y"] + line["height"] <= 400
    finally:
        context.close()


def test_closing_returns_focus_to_the_launcher_and_the_page_language_is_declared(chat):
    chat.open_page().open()
    chat.page.get_by_role("button", name="Close chat").click()
    assert "Chat with us" in chat.focused_text()
    assert chat.page.evaluate("""() => document.querySelector('#admissions-chat-widget')
        .shadowRoot.querySelector('.root').lang""") == "en"


def test_reduced_motion_stops_the_typing_animation(browser, shared_stack):
    context = browser.new_context(reduced_motion="reduce")
    try:
        chat = Chat(context.new_page(), shared_stack.rasa_url).open_page().open()
        animation = chat.page.evaluate("""() => {
            const dots = document.querySelector('#admissions-chat-widget').shadowRoot
              .querySelector('.typing .dots');
            return getComputedStyle(dots, '::after').animationName;
        }""")
        assert animation == "none"
    finally:
        context.close()


# --- embedded in another site -----------------------------------------------------------

class _HostPage(BaseHTTPRequestHandler):
    page = b""

    def do_GET(self):  # noqa: N802 (the standard library's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args):
        pass


def _center_site(widget_url: str, port: int) -> ThreadingHTTPServer:
    handler = type("CenterSite", (_HostPage,), {"page": (
        '<!doctype html><html lang="en"><head><title>A center</title></head><body>'
        '<h1>Another center</h1>'
        f'<script src="{widget_url}" data-accent="#ffd400" data-launcher-text="Talk to us">'
        '</script></body></html>').encode()})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_site_on_the_origins_list_embeds_the_chat_and_others_cannot(browser, shared_stack,
                                                                      filled):
    widget_url = f"{shared_stack.rasa_url}/webhooks/website/widget.js"
    allowed = _center_site(widget_url, shared_stack.embedding_port)
    stranger = _center_site(widget_url, free_port())
    context = browser.new_context()
    try:
        page = context.new_page()
        chat = Chat(page, f"http://localhost:{shared_stack.embedding_port}").open_page("/")
        page.get_by_role("button", name="Talk to us").click()
        assert chat.say("how much does the program cost?") == [filled("utter_faq/cost")]
        # A light accent gets dark text on it.
        colour = page.get_by_role("button", name="Send").evaluate(
            "b => getComputedStyle(b).color")
        assert colour == "rgb(0, 0, 0)"
        other = Chat(context.new_page(), f"http://localhost:{stranger.server_port}")
        other.open_page("/")
        other.page.get_by_role("button", name="Talk to us").click()
        other.input.fill("hello")
        other.input.press("Enter")
        other.page.get_by_text("We can't reach the chat right now").wait_for(timeout=30_000)
        time.sleep(0.5)
        assert other.stored_session() is None
    finally:
        context.close()
        allowed.shutdown()
        stranger.shutdown()
