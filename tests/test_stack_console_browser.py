"""The staff console and the chat widget in two real browsers (Debian's chromium), against the
real assistant: a visitor finishes the pre-screen on the website while a counselor watches the
queue; the handoff appears without a reload, the counselor claims it, reads the conversation
and the pre-screen, and the two talk live until the counselor resolves it and hands it back."""
from __future__ import annotations

import threading
import time

import pytest

from bot.leads.database import engine_for
from bot.staff.desk import StaffDesk
from scripts.stack import free_port
from tests.browser_helpers import REPLY_TIMEOUT_MS, Chat, axe_serious

pytestmark = pytest.mark.stack

COUNSELOR_PASSWORD = "a long enough secret 7"
# Rendered literally on the counselor's screen; if it ran, it would set this flag.
SCRIPT_IN_A_MESSAGE = '<img src=x onerror="window.__ran=1"><script>window.__ran=2</script>'


@pytest.fixture(scope="module")
def console_url(shared_stack):
    """The console served by uvicorn, as `make run` serves it, beside the shared assistant."""
    import uvicorn

    from bot.staff.console.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        create_app(shared_stack.settings), host="127.0.0.1", port=port, access_log=False,
        log_config=None, timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the console did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def new_page(browser):
    """Pages, each in a browser context of its own (its own cookies), closed after the test so
    no live stream is left open."""
    contexts = []

    def open_page(**options):
        contexts.append(browser.new_context(**options))
        return contexts[-1].new_page()
    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def desk(shared_stack):
    return StaffDesk(engine_for(shared_stack.settings.database_url))


def signed_in_counselor(new_page, console_url, desk, username: str, name: str):
    """A counselor's browser tab, signed in with a password of their own, on the queue."""
    one_time = desk.add_user(username, "counselor", name)
    page = new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(console_url + "/queue")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(one_time)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Current password").fill(one_time)
    page.get_by_label("New password (at least 12 characters", exact=False).fill(COUNSELOR_PASSWORD)
    page.get_by_label("New password again").fill(COUNSELOR_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    page.get_by_role("heading", name="Handoff queue").wait_for()
    page.errors = errors
    return page


def finish_the_prescreen(chat: Chat, first_name: str) -> None:
    chat.open_page().open()
    chat.say("I want to get started")
    for answer in ("For me", first_name, "18 or older", "Illinois", "alcohol",
                   "daily, not in the last 24 hours", "neither", "none", "self-pay",
                   "312-555-0177", "evenings, texts OK"):
        chat.say(answer)
    done = chat.say("Yes")
    assert any(text.startswith(f"Thank you, {first_name}.") for text in done), done


def test_a_counselor_sees_a_handoff_arrive_live_claims_it_and_talks_with_the_visitor(
        new_page, shared_stack, console_url, desk):
    counselor = signed_in_counselor(new_page, console_url, desk, "maria.browser", "Maria")
    assert axe_serious(counselor) == []

    visitor = Chat(new_page(), shared_stack.rasa_url)
    finish_the_prescreen(visitor, "Quinn")
    # The queue page was never reloaded: the row arrives over the live stream.
    open_link = counselor.get_by_role("link", name="Open the handoff of Quinn, Website chat")
    open_link.wait_for(timeout=REPLY_TIMEOUT_MS)
    assert counselor.title().startswith("(")  # the waiting count in the tab's title
    open_link.click()
    counselor.get_by_role("button", name="Claim this handoff").click()
    assert counselor.locator("#holder").text_content() == "Maria has it"
    transcript = counselor.get_by_role("log", name="Transcript")
    assert "I want to get started" in transcript.text_content()
    answers = counselor.get_by_role("complementary", name="About this person")
    for shown in ("First nameQuinn", "Age group18 or older", "state: IL", "Substancesalcohol"):
        assert shown in answers.text_content()
    assert "+13125550177" in answers.text_content()
    assert axe_serious(counselor) == []

    counselor.get_by_label("Your reply to Quinn").fill("Hi Quinn, this is Maria. I'm here.")
    counselor.get_by_role("button", name="Send reply").click()
    counselor.get_by_text("Your reply is sent", exact=False).wait_for()
    visitor.page.get_by_text("Hi Quinn, this is Maria. I'm here.").wait_for(
        timeout=REPLY_TIMEOUT_MS)
    assert visitor.bubbles("Maria, admissions counselor (a person)") == [
        "Hi Quinn, this is Maria. I'm here."]

    # The visitor answers; the counselor's open page shows it without a reload, as text.
    visitor.input.fill(SCRIPT_IN_A_MESSAGE)
    visitor.input.press("Enter")
    # Sent once the server acknowledged it (the typing dots go), with no "not sent" note.
    visitor.page.wait_for_function("""() => {
        const root = document.querySelector('#admissions-chat-widget').shadowRoot;
        return root.querySelector('.typing').hidden;
    }""", timeout=REPLY_TIMEOUT_MS)
    assert visitor.page.evaluate("""() => [...document.querySelector('#admissions-chat-widget')
        .shadowRoot.querySelectorAll('.msg.visitor .delivery')].map(n => n.textContent)""") == []
    try:
        transcript.get_by_text(SCRIPT_IN_A_MESSAGE).wait_for(timeout=REPLY_TIMEOUT_MS)
    except Exception:
        live = counselor.locator("#live-state").all_text_contents()
        shown = transcript.text_content()
        counselor.reload()
        raise AssertionError(f"live={live} shown={shown[-400:]!r} after reload="  # noqa: B904
                             f"{counselor.get_by_role('log').text_content()[-400:]!r}")
    assert counselor.evaluate("() => window.__ran") is None
    assert counselor.locator("#transcript img").count() == 0

    counselor.get_by_label("Assessment booked").check()
    counselor.get_by_label("Detail: date and time", exact=False).fill("Friday 10:00 AM")
    counselor.get_by_label("Hand the conversation back to the assistant").check()
    counselor.get_by_role("button", name="Resolve").click()
    counselor.get_by_text("The handoff is resolved.").wait_for()
    assert "Assessment booked: Friday 10:00 AM" in counselor.get_by_role(
        "region", name="Resolved").text_content()
    assert counselor.errors == [] and visitor.errors == []

    # Handed back: the assistant answers the visitor again.
    answer = " ".join(visitor.say("what are your hours?"))
    assert answer and "saved for the admissions counselor" not in answer
    # Who read and changed what is on record, with ids only.
    handoff_id = counselor.url.split("?")[0].rsplit("/", 1)[-1]
    admin = next((a for a in desk.accounts() if a.is_admin), None)
    if admin is None:
        desk.add_user("boss.browser", "admin", "Boss")
        admin = next(a for a in desk.accounts() if a.is_admin)
    actions = [a.action for a in desk.audit_trail(admin, limit=500)
               if a.actor == "staff:maria.browser" and a.entity_id == handoff_id]
    for expected in ("read", "claimed", "reply:sent", "resolve:assessment_booked"):
        assert expected in actions, actions


def test_two_counselors_claim_at_once_and_the_second_learns_who_has_it(
        new_page, shared_stack, console_url, desk):
    first = signed_in_counselor(new_page, console_url, desk, "ana.browser", "Ana")
    second = signed_in_counselor(new_page, console_url, desk, "ben.browser", "Ben")
    visitor = Chat(new_page(), shared_stack.rasa_url)
    visitor.open_page().open()
    visitor.say("I want to talk to a person")
    for page in (first, second):
        page.get_by_role("link", name="Open the handoff of someone, Website chat").first.wait_for(
            timeout=REPLY_TIMEOUT_MS)
        page.get_by_role("link", name="Open the handoff of someone, Website chat").first.click()
    first.get_by_role("button", name="Claim this handoff").click()
    assert first.locator("#holder").text_content() == "Ana has it"
    # Ben's page was opened before Ana claimed: it says so live, and his claim is refused.
    second.get_by_text("This handoff has changed hands or been resolved.").wait_for(
        timeout=REPLY_TIMEOUT_MS)
    second.get_by_role("button", name="Claim this handoff").click()
    second.get_by_text("Ana claimed this handoff first; it is theirs now.").wait_for()
    assert second.locator("#holder").text_content() == "Ana has it"
    assert second.get_by_label("Your reply to the person").count() == 0
