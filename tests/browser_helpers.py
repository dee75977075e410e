"""What the browser tests share: the browser itself (Debian's chromium), the visitor's view of
the chat widget, and the accessibility check."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SAMPLE_PATH = "/webhooks/website/sample"
STORE_PREFIX = "admissions-chat-session:"
REPLY_TIMEOUT_MS = 30_000
EXIT_URL = "https://www.google.com/"


def launch_browser() -> Iterator:
    """Chromium for a module's tests; fails under CI and skips elsewhere when it is missing."""
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        reason = (f"BROWSER TESTS NOT RUN: no chromium at {CHROMIUM}. `make test` installs "
                  "Debian's chromium (apt-get install chromium); run it as root or with sudo.")
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


class Chat:
    """The visitor's view of the widget on the sample page."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open_page(self, path: str = SAMPLE_PATH) -> "Chat":
        self.page.goto(self.base_url + path)
        return self

    def open(self) -> "Chat":
        self.page.get_by_role("button", name="Chat with us").click()
        return self

    @property
    def log(self):
        return self.page.get_by_role("log", name="Conversation")

    @property
    def input(self):
        return self.page.get_by_role("textbox", name="Your message")

    def bubbles(self, who: str = "Assistant (automated)") -> list[str]:
        """The texts of the messages written by `who`, in order."""
        return self.page.evaluate("""(who) => {
            const root = document.querySelector('#admissions-chat-widget').shadowRoot;
            return [...root.querySelectorAll('.msg')]
              .filter(m => (m.querySelector('.who') || {}).textContent === who)
              .map(m => m.querySelector('p').textContent);
        }""", who)

    def say(self, text: str) -> list[str]:
        """Types a message, presses Enter, and returns what the assistant answered to it."""
        before = len(self.bubbles())
        self.input.fill(text)
        self.input.press("Enter")
        return self.wait_for_answer(before)

    def wait_for_answer(self, before: int) -> list[str]:
        self.page.wait_for_function("""(before) => {
            const root = document.querySelector('#admissions-chat-widget').shadowRoot;
            const answered = [...root.querySelectorAll('.msg.assistant')].length > before;
            return answered && root.querySelector('.typing').hidden;
        }""", arg=before, timeout=REPLY_TIMEOUT_MS)
        return self.bubbles()[before:]

    def stored_session(self) -> str | None:
        return self.page.evaluate(f"""() => {{
            const key = Object.keys(localStorage).find(k => k.startsWith('{STORE_PREFIX}'));
            return key ? localStorage.getItem(key) : null;
        }}""")

    def focused_text(self) -> str:
        return self.page.evaluate("""() => {
            let node = document.activeElement;
            while (node && node.shadowRoot && node.shadowRoot.activeElement) {
                node = node.shadowRoot.activeElement;
            }
            return node ? (node.textContent || node.getAttribute('aria-label') || '') : '';
        }""")

    def focus_by_keyboard(self, title: str) -> None:
        """Shift+Tab back (or Tab on) to the button named `title`, as a keyboard user would."""
        for key, presses in (("Shift+Tab", 15), ("Tab", 30)):
            for _ in range(presses):
                self.page.keyboard.press(key)
                if self.focused_text().lstrip("✓ ") == title:
                    return
        raise AssertionError(f"no button {title!r} reachable by keyboard")

    def choose_by_keyboard(self, title: str) -> list[str]:
        """From the text box, go to the choice button named `title`, press Enter."""
        before = len(self.bubbles())
        self.focus_by_keyboard(title)
        self.page.keyboard.press("Enter")
        return self.wait_for_answer(before)

    def type_by_keyboard(self, text: str) -> list[str]:
        before = len(self.bubbles())
        self.page.keyboard.type(text)
        self.page.keyboard.press("Enter")
        return self.wait_for_answer(before)


def axe_serious(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']}: {v['help']}" for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")]
