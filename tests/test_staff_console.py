"""The staff console over HTTP (Starlette's test client): sign-in, throttling, CSRF, roles,
security headers, escaped transcripts, and replies on the person's own channel.

Transcripts come from a stand-in for Rasa's HTTP API; SMS replies go through the real
outbound sender and Twilio SDK to the local Twilio stand-in."""
from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from starlette.testclient import TestClient

from bot.funnel.store import record_step
from bot.handoff.conversation_api import Transcript, TranscriptLine
from bot.leads.database import engine_for, ensure_schema
from bot.leads.store import LeadStore
from bot.leads.submission import HandoffPriority, HandoffRequest, LeadDetails, Submission
from bot.messaging.store import messaging_store_for
from bot.settings import load_settings
from bot.staff.desk import StaffDesk
from scripts.twilio_local import HELPLINE, FakeTwilioApi, twilio_environment

PHONE = "+13125550142"
XSS = ['<script>document.title="pwned"</script>', '<img src=x onerror="alert(1)">']


class FakeRasaApi:
    """Rasa's HTTP API as the console uses it: one transcript per conversation."""

    def __init__(self):
        now = dt.datetime.now(dt.timezone.utc)
        self.lines = [TranscriptLine("person", text, now) for text in XSS]
        self.added: list[tuple[str, str, str, bool]] = []

    async def transcript(self, conversation_id):
        return Transcript(list(self.lines), True, "website", self.lines[-1].at,
                          len(self.lines))

    async def add_counselor_message(self, conversation_id, text, name, role, deliver):
        self.added.append((conversation_id, text, name, deliver))
        self.lines.append(TranscriptLine("counselor", text, dt.datetime.now(dt.timezone.utc),
                                         name))


@pytest.fixture
def world(tmp_path, monkeypatch):
    with FakeTwilioApi() as twilio:
        for name, value in twilio_environment(twilio, tmp_path).items():
            monkeypatch.setenv(name, value)
        settings = load_settings()
        engine = engine_for(settings.database_url)
        ensure_schema(engine)
        from bot.staff.console.app import create_app

        rasa = FakeRasaApi()
        resumed = []
        app = create_app(settings, conversations=rasa, resume=resumed.append)
        desk = StaffDesk(engine)
        yield {"app": app, "desk": desk, "store": LeadStore(engine), "rasa": rasa,
               "twilio": twilio, "resumed": resumed, "settings": settings}


def new_handoff(world, channel="website", name="Jordan", conversation="conv-1") -> str:
    return world["store"].apply(Submission(
        conversation_id=conversation, channel=channel,
        lead=LeadDetails(status="complete", first_name=name, phone_e164=PHONE,
                         phone_verified=channel != "website", state="IL"),
        handoff=HandoffRequest("prescreen_complete", HandoffPriority.ROUTINE))).handoff_id


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def signed_in(world, username="dana", role="counselor") -> TestClient:
    password = world["desk"].add_user(username, role)
    client = TestClient(world["app"], base_url="http://127.0.0.1")
    page = client.post("/login", data={"username": username, "password": password})
    assert page.url.path == "/password"
    client.post("/password", data={"csrf_token": csrf_of(page.text), "current": password,
                                   "new": "correct horse battery", "again":
                                   "correct horse battery"})
    return client


def test_nothing_but_the_sign_in_page_answers_without_a_session(world):
    handoff_id = new_handoff(world)
    client = TestClient(world["app"], base_url="http://127.0.0.1")
    for path in ("/queue", f"/handoffs/{handoff_id}", "/leads?q=jordan", "/admin/audit",
                 "/metrics", "/queue/live"):
        response = client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
        assert response.status_code in (303, 401), path
        assert "Jordan" not in response.text
    assert client.post(f"/handoffs/{handoff_id}/claim").status_code == 401


def test_a_first_sign_in_must_change_the_one_time_password_before_anything_else(world):
    password = world["desk"].add_user("dana", "counselor")
    client = TestClient(world["app"], base_url="http://127.0.0.1")
    client.post("/login", data={"username": "dana", "password": password})
    assert client.get("/queue").url.path == "/password"
    cookie = client.cookies.get("console_session")
    assert cookie
    header = client.post("/login", data={"username": "dana", "password": password},
                         follow_redirects=False).headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=strict" in header.replace("Strict", "strict")


def test_a_wrong_password_is_refused_and_repeated_tries_are_throttled(world):
    world["desk"].add_user("dana", "counselor")
    client = TestClient(world["app"], base_url="http://127.0.0.1")
    statuses = [client.post("/login", data={"username": "dana", "password": "guess"})
                .status_code for _ in range(7)]
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
    throttled = client.post("/login", data={"username": "dana", "password": "guess"})
    assert "Too many sign-in attempts" in throttled.text and throttled.headers["retry-after"]


def test_another_site_cannot_sign_a_counselor_in_to_an_account_of_its_choosing(world):
    password = world["desk"].add_user("dana", "counselor")
    client = TestClient(world["app"], base_url="http://127.0.0.1")
    for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}):
        forged = client.post("/login", data={"username": "dana", "password": password},
                             headers=headers, follow_redirects=False)
        assert forged.status_code == 403 and "set-cookie" not in forged.headers
    own = client.post("/login", data={"username": "dana", "password": password},
                      headers={"origin": "http://127.0.0.1"}, follow_redirects=False)
    assert own.status_code == 303


def test_guesses_sent_all_at_once_get_no_more_tries_than_one_at_a_time(world):
    import asyncio

    import httpx

    world["desk"].add_user("dana", "counselor")

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=world["app"])
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            answers = await asyncio.gather(*(client.post("/login", data={
                "username": "dana", "password": f"guess {n}"}) for n in range(20)))
        return [answer.status_code for answer in answers]
    statuses = asyncio.run(burst())
    assert statuses.count(401) == 5 and statuses.count(429) == 15, statuses


def test_signing_in_many_times_a_day_never_locks_a_counselor_out(world):
    client = signed_in(world, "dana")
    for _ in range(8):
        client.post("/logout", data={"csrf_token": csrf_of(client.get("/queue").text)})
        page = client.post("/login", data={"username": "dana",
                                           "password": "correct horse battery"})
        assert page.status_code == 200 and page.url.path == "/queue"


def test_guessing_the_current_password_on_the_change_form_is_throttled_too(world):
    client = signed_in(world, "dana")
    csrf = csrf_of(client.get("/password").text)
    statuses = [client.post("/password", data={
        "csrf_token": csrf, "current": f"guess {n}", "new": "another long secret",
        "again": "another long secret"}).status_code for n in range(7)]
    assert statuses[:5] == [400] * 5 and statuses[5:] == [429, 429]
    # Throttled, even the right password is not tried, so the limit reveals nothing.
    right = client.post("/password", data={
        "csrf_token": csrf, "current": "correct horse battery", "new": "another long secret",
        "again": "another long secret"})
    assert right.status_code == 429 and "Too many sign-in attempts" in right.text


def test_a_form_without_its_csrf_token_is_refused(world):
    handoff_id = new_handoff(world)
    client = signed_in(world)
    refused = client.post(f"/handoffs/{handoff_id}/claim", data={})
    assert refused.status_code == 403
    forged = client.post(f"/handoffs/{handoff_id}/claim", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    assert world["desk"].handoff_row(handoff_id).status == "waiting"


def test_a_counselor_cannot_open_the_admin_pages(world):
    client = signed_in(world)
    for path in ("/admin/audit", "/admin/canned"):
        assert client.get(path).status_code == 403
    page = client.get("/queue")
    assert "/admin/audit" not in page.text


def test_pages_carry_a_strict_policy_no_framing_and_no_caching(world):
    handoff_id = new_handoff(world)
    client = signed_in(world)
    for path in ("/queue", f"/handoffs/{handoff_id}", "/login"):
        headers = client.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["cache-control"] == "no-store"


def test_transcript_text_is_escaped_never_markup(world):
    handoff_id = new_handoff(world)
    client = signed_in(world)
    for path in (f"/handoffs/{handoff_id}", f"/handoffs/{handoff_id}/transcript"):
        html = client.get(path).text
        assert "<script>document.title" not in html and "<img src=x" not in html
        assert "&lt;script&gt;document.title" in html and "&lt;img src=x onerror" in html
    assert not re.search(r"<script(?![^>]*src=\"/static/console.js\")", html)


def test_a_claimed_website_handoff_gets_a_reply_as_the_counselor_and_is_resolved(world):
    handoff_id = new_handoff(world)
    client = signed_in(world)
    queue = client.get("/queue")
    assert "Jordan" in queue.text and "Website chat" in queue.text
    page = client.get(f"/handoffs/{handoff_id}")
    claimed = client.post(f"/handoffs/{handoff_id}/claim", data={"csrf_token": csrf_of(page.text)})
    assert "You have this handoff now." in claimed.text
    replied = client.post(f"/handoffs/{handoff_id}/reply", data={
        "csrf_token": csrf_of(claimed.text), "text": "Hi Jordan, I'm Dana."})
    assert "Your reply is sent" in replied.text
    assert world["rasa"].added == [("conv-1", "Hi Jordan, I'm Dana.", "Dana", True)]
    assert "Dana (counselor)" in replied.text
    resolved = client.post(f"/handoffs/{handoff_id}/resolve", data={
        "csrf_token": csrf_of(replied.text), "disposition": "assessment_booked",
        "detail": "Dec 4, 10:00 AM", "after": "assistant"})
    assert "The handoff is resolved." in resolved.text
    assert world["resumed"] == ["conv-1"]
    assert world["desk"].handoff_row(handoff_id).disposition == "assessment_booked"


def test_the_second_counselor_to_claim_is_told_who_has_it(world):
    handoff_id = new_handoff(world)
    dana, sam = signed_in(world, "dana"), signed_in(world, "sam")
    page = sam.get(f"/handoffs/{handoff_id}")
    dana.post(f"/handoffs/{handoff_id}/claim",
              data={"csrf_token": csrf_of(dana.get("/queue").text)})
    lost = sam.post(f"/handoffs/{handoff_id}/claim", data={"csrf_token": csrf_of(page.text)})
    assert "Dana claimed this handoff first; it is theirs now." in lost.text
    assert "Dana has it" in lost.text
    refused = sam.post(f"/handoffs/{handoff_id}/reply",
                       data={"csrf_token": csrf_of(lost.text), "text": "hello"})
    assert "Claim this handoff before writing" in refused.text
    assert world["rasa"].added == []


def test_an_sms_reply_goes_out_through_twilio_from_the_helpline_and_into_the_transcript(world):
    handoff_id = new_handoff(world, channel="twilio_sms", conversation="sms-1")
    client = signed_in(world)
    page = client.get(f"/handoffs/{handoff_id}")
    page = client.post(f"/handoffs/{handoff_id}/claim", data={"csrf_token": csrf_of(page.text)})
    replied = client.post(f"/handoffs/{handoff_id}/reply", data={
        "csrf_token": csrf_of(page.text), "text": "Hi Jordan, this is Dana from admissions."})
    assert "Your reply is sent" in replied.text
    sent = [r for r in world["twilio"].requests if r["path"].endswith("/Messages.json")]
    assert len(sent) == 1
    account_sid = world["settings"].twilio_account_sid
    assert sent[0]["path"] == f"/2010-04-01/Accounts/{account_sid}/Messages.json"
    assert sent[0]["form"] == {"To": PHONE, "From": HELPLINE,
                               "Body": "Hi Jordan, this is Dana from admissions."}
    assert world["rasa"].added == [("sms-1", "Hi Jordan, this is Dana from admissions.",
                                    "Dana", False)]


def test_a_number_that_texted_stop_gets_no_reply_and_the_console_says_why(world):
    handoff_id = new_handoff(world, channel="twilio_sms", conversation="sms-2")
    messaging_store_for(world["settings"].database_url).opt_out(PHONE)
    client = signed_in(world)
    page = client.get(f"/handoffs/{handoff_id}")
    assert "opted out (STOP)" in page.text
    page = client.post(f"/handoffs/{handoff_id}/claim", data={"csrf_token": csrf_of(page.text)})
    held = client.post(f"/handoffs/{handoff_id}/reply", data={
        "csrf_token": csrf_of(page.text), "text": "Hi Jordan"})
    assert "Your text was not sent" in held.text and "recipient opted out" in held.text
    assert world["twilio"].requests == [] and world["rasa"].added == []


def test_leads_search_and_its_csv_export_are_audited(world):
    new_handoff(world)
    client = signed_in(world)
    found = client.get("/leads?q=jord")
    assert "Jordan" in found.text and PHONE in found.text
    export = client.get("/leads.csv?q=jord")
    assert export.headers["content-type"].startswith("text/csv")
    assert "Jordan" in export.text
    boss = signed_in(world, "boss", "admin")
    trail = boss.get("/admin/audit").text
    assert "staff:dana" in trail and "export" in trail and "search" in trail


def test_a_refused_reply_or_resolution_says_why_and_keeps_what_was_typed(world):
    handoff_id = new_handoff(world)
    client = signed_in(world)
    page = client.get(f"/handoffs/{handoff_id}")
    page = client.post(f"/handoffs/{handoff_id}/claim", data={"csrf_token": csrf_of(page.text)})
    draft = "Hi Jordan, I read your answers and " + "x" * 1600
    refused = client.post(f"/handoffs/{handoff_id}/reply", data={
        "csrf_token": csrf_of(page.text), "text": draft})
    assert refused.status_code == 400 and "limited to 1,600 characters" in refused.text
    assert f">{draft[:1601]}</textarea>" in refused.text
    assert world["rasa"].added == []
    refused = client.post(f"/handoffs/{handoff_id}/resolve", data={
        "csrf_token": csrf_of(page.text), "disposition": "unreachable", "detail": "three",
        "after": "closed"})
    assert refused.status_code == 400 and "Attempts made must be a number." in refused.text
    assert 'value="three"' in refused.text and 'value="unreachable" required checked' in (
        refused.text)
    assert world["desk"].handoff_row(handoff_id).status == "claimed"


def test_a_crisis_handoff_tells_the_counselor_to_act_now(world):
    handoff_id = world["store"].apply(Submission(
        conversation_id="conv-crisis", channel="twilio_sms",
        lead=LeadDetails(status="partial", phone_e164=PHONE, phone_verified=True),
        handoff=HandoffRequest("crisis", HandoffPriority.CRISIS))).handoff_id
    client = signed_in(world)
    page = client.get(f"/handoffs/{handoff_id}").text
    assert re.search(r'<p class="crisis" role="alert">Crisis message: this person may be in '
                     r'danger now\..*988', page)
    assert "Times are America/" in page or "Times are " in page


def test_one_account_cannot_hold_open_live_views_without_limit(world, monkeypatch):
    import bot.staff.console.app as console_app

    monkeypatch.setattr(console_app, "LIVE_STREAM_S", 0.6)
    monkeypatch.setattr(console_app, "MAX_STREAMS_PER_ACCOUNT", 1)
    client = signed_in(world)
    # A stream that ended gives its place back: one after another, each is served.
    for _ in range(2):
        assert client.get("/queue/live").status_code == 200
    console_app_state = world["app"].state.console
    console_app_state.open_streams[world["desk"].accounts()[0].id] = 1  # one open elsewhere
    refused = client.get("/queue/live")
    assert refused.status_code == 429 and "Too many live views" in refused.text


def test_disabling_an_account_ends_its_open_live_view(world, monkeypatch):
    import threading
    import time

    import bot.staff.console.app as console_app

    monkeypatch.setattr(console_app, "LIVE_STREAM_S", 60)
    monkeypatch.setattr(console_app, "SESSION_RECHECK_S", 0)
    client = signed_in(world)
    threading.Timer(0.5, world["desk"].set_disabled, ("dana", True)).start()
    started = time.monotonic()
    assert client.get("/queue/live").status_code == 200
    # Ended by the disabled account, long before the stream's own minute.
    assert time.monotonic() - started < 30


def test_an_open_tab_does_not_keep_a_session_alive_but_a_click_does(world, monkeypatch):
    import bot.staff.console.app as console_app

    monkeypatch.setattr(console_app, "LIVE_STREAM_S", 0.1)
    client = signed_in(world)
    for path in ("/queue/live", "/queue/rows"):
        assert "set-cookie" not in client.get(path).headers  # the page's own polling
    assert "console_session=" in client.get("/queue").headers["set-cookie"]  # a person's view


def test_a_session_ends_after_a_shift_however_busy(world, monkeypatch):
    import bot.staff.console.security as security

    client = signed_in(world)
    assert client.get("/queue").status_code == 200
    # The cookie is fresh (never idle); only its sign-in is older than a shift now.
    monkeypatch.setattr(security, "MAX_SESSION_SECONDS", -1)
    assert client.get("/queue").status_code == 401


def test_the_csv_export_cannot_carry_a_formula_into_a_spreadsheet(world):
    import csv
    import io

    new_handoff(world, name="Jo;=HYPERLINK(\"http://x\")")
    new_handoff(world, name="=1+2", conversation="conv-2")
    new_handoff(world, name=" \u00a0=3+4", conversation="conv-3")
    client = signed_in(world)
    export = client.get("/leads.csv?q=" + PHONE.lstrip("+"))
    # Read as a spreadsheet in a ";" locale would: no cell may begin with a formula sign.
    for delimiter in (",", ";"):
        cells = [cell for row in csv.reader(io.StringIO(export.text), delimiter=delimiter)
                 for cell in row]
        assert not any(cell.strip()[:1] in "=+-@" for cell in cells if cell.strip()), cells
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert {row["first_name"] for row in rows} == {'Jo;\'=HYPERLINK("http://x")', "'=1+2",
                                                          " \u00a0'=3+4"}
    assert {row["phone"] for row in rows} == {"'" + PHONE}


def test_the_metrics_page_and_its_csv_count_handoffs(world):
    new_handoff(world)
    client = signed_in(world)
    page = client.get("/metrics")
    assert "Handoffs by reason" in page.text and "Pre-screen finished 1" in page.text
    assert "handoffs by reason,Pre-screen finished,1" in client.get("/metrics.csv").text


def test_the_metrics_page_shows_every_conversation_counted_from_the_event_stream(world):
    client = signed_in(world)
    assert "No step counts for this period" in client.get("/metrics").text
    now = time.time()
    records = [{"conversation": key * 64, "step": step, "channel": channel, "at": now}
               for key, step, channel in (("a", "conversation", "website"),
                                          ("b", "conversation", "twilio_sms"),
                                          ("c", "conversation", "website"),
                                          ("a", "prescreen_started", None),
                                          ("b", "crisis", None))]
    for record in records + records[:2]:  # delivered twice: counted once
        record_step(world["desk"].engine, record)
    page = client.get("/metrics").text
    assert "No step counts" not in page
    assert "Conversations 3, Got an answer 0, Began pre-screen 1" in page
    assert "Given 911/988 reply 1" in page
    assert "Conversations by channel: Website chat 2, Text (SMS) 1" in page
    exported = client.get("/metrics.csv").text
    assert "funnel (event stream),Conversations,3" in exported
    assert "all conversations by channel (event stream),Text (SMS),1" in exported


def test_oversized_and_malformed_requests_get_clear_statuses(world):
    client = signed_in(world)
    assert client.post("/login", content=b"x" * 100_000,
                       headers={"content-type": "application/x-www-form-urlencoded"}
                       ).status_code == 413
    # The same without a declared length (chunked): still 413, not a generic 400.
    assert client.post("/login", content=(b"x" * 8192 for _ in range(12)),
                       headers={"content-type": "application/x-www-form-urlencoded"}
                       ).status_code == 413
    assert client.get("/handoffs/not-a-real-id").status_code == 404
    assert client.get("/login?next=//evil.example").status_code == 200
    response = TestClient(world["app"], base_url="http://127.0.0.1").post(
        "/login", data={"username": "x", "password": "y", "next": "https://evil.example"},
        follow_redirects=False)
    assert response.status_code == 401


def test_signing_out_or_changing_the_password_ends_a_copied_session(world):
    client = signed_in(world)
    copied = client.cookies.get("console_session")
    thief = TestClient(world["app"], base_url="http://127.0.0.1",
                       cookies={"console_session": copied})
    assert thief.get("/queue").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/queue").text)})
    assert thief.get("/queue", follow_redirects=False).status_code == 401
    assert client.get("/queue", follow_redirects=False).status_code == 401


def test_impossible_dates_and_pages_are_ignored_not_errors(world):
    client = signed_in(world)
    assert client.get("/leads?date=9999-12-31").status_code == 200
    assert client.get("/leads.csv?date=9999-12-31").status_code == 400  # no real day: no search
    assert client.get("/leads.csv").status_code == 400  # never a bulk copy without a search
    boss = signed_in(world, "boss", "admin")
    assert boss.get("/admin/audit?page=99999999999999999999").status_code == 200
    page = boss.get("/admin/canned")
    assert boss.post("/admin/canned/999999999999999999999999/delete",
                     data={"csrf_token": csrf_of(page.text)}).status_code == 200


def test_the_rasa_token_never_reaches_the_log(caplog):
    import asyncio
    import logging

    from bot.handoff.conversation_api import ConversationApi, ConversationApiError

    caplog.set_level(logging.DEBUG)
    with FakeTwilioApi() as server:  # any local server that answers (here: 501 to a GET)
        try:
            asyncio.run(ConversationApi(server.url, "SeCrEtToKeN").transcript("c"))
        except ConversationApiError:
            pass
    assert "SeCrEtToKeN" not in caplog.text
