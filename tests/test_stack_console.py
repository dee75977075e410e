"""The staff console against the real assistant: a website visitor asks for a person, a
counselor finds them in the queue, reads the transcript through Rasa's HTTP API, replies,
and hands the conversation back; the assistant then answers the visitor again."""
from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from bot.leads.database import engine_for
from bot.staff.desk import StaffDesk
from scripts.rest_client import WebsiteConversation

pytestmark = pytest.mark.stack


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_a_counselor_works_a_website_handoff_end_to_end(shared_stack):
    from bot.staff.console.app import create_app

    visitor = WebsiteConversation(shared_stack.rasa_url)
    visitor.texts("how much does it cost?")
    visitor.texts("I want to talk to a person")
    desk = StaffDesk(engine_for(shared_stack.settings.database_url))
    password = desk.add_user("maria.console", "counselor", "Maria")
    client = TestClient(create_app(shared_stack.settings), base_url="http://127.0.0.1")
    page = client.post("/login", data={"username": "maria.console", "password": password})
    page = client.post("/password", data={"csrf_token": csrf_of(page.text), "current": password,
                                          "new": "a long enough secret", "again":
                                          "a long enough secret"})
    row = next(r for r in desk.queue(desk.accounts()[0], "open")
               if r.conversation_id == visitor.conversation_id)
    assert f"/handoffs/{row.handoff_id}" in page.text
    view = client.get(f"/handoffs/{row.handoff_id}")
    # The transcript, read from Rasa: the person's words and the assistant's answer.
    assert "how much does it cost?" in view.text and "Assistant (automated)" in view.text
    view = client.post(f"/handoffs/{row.handoff_id}/claim",
                       data={"csrf_token": csrf_of(view.text)})
    view = client.post(f"/handoffs/{row.handoff_id}/reply", data={
        "csrf_token": csrf_of(view.text), "text": "Hi, I'm Maria, an admissions counselor."})
    assert "Your reply is sent" in view.text
    assert "Maria (counselor)" in view.text
    view = client.post(f"/handoffs/{row.handoff_id}/resolve", data={
        "csrf_token": csrf_of(view.text), "disposition": "assessment_booked",
        "detail": "Friday 10:00 AM", "after": "assistant"})
    assert "The handoff is resolved." in view.text
    # Handed back: the assistant answers the visitor again, instead of "saved for a counselor".
    answer = " ".join(visitor.texts("what are your hours?"))
    assert answer and "saved for the admissions counselor" not in answer
