"""The one service that records leads and tells staff, as actions and connectors call it."""
from __future__ import annotations

import ast
import asyncio
import datetime as dt
import subprocess
import sys
import textwrap

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.handoff import service
from bot.leads.database import make_engine
from bot.leads.schema import Handoff
from bot.leads.spool import LeadSpool
from bot.leads.store import LeadStore
from bot.leads.submission import HandoffPriority, HandoffRequest, Submission
from bot.settings import PROJECT_ROOT, load_settings
from scripts.twilio_local import FakeTwilioApi, twilio_environment

ONCALL = "+17735550191"
ROUTINE_TEXT = "New admissions handoff, priority normal: open the console"
URGENT_TEXT = "New admissions handoff, priority urgent: open the console"


@pytest.fixture
def helpline(tmp_path, monkeypatch):
    """The service pointed at a fresh SQLite leads database and a stand-in Twilio API."""
    with FakeTwilioApi() as api:
        for name, value in twilio_environment(api, tmp_path).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("ONCALL_STAFF_NUMBERS", ONCALL)
        monkeypatch.delenv("HANDOFF_CAP_PER_CONVERSATION", raising=False)
        yield api


def record(submission: Submission, notify_existing: bool = False):
    async def go():
        applied = await service.record(submission, notify_existing=notify_existing)
        await service.notifications_settled()
        return applied

    return asyncio.run(go())


def handoffs_of(conversation_id: str) -> list[Handoff]:
    engine = make_engine(load_settings().database_url)
    with Session(engine, future=True) as session:
        rows = session.execute(select(Handoff).where(Handoff.conversation_id == conversation_id)
                               .order_by(Handoff.created_at)).scalars().all()
    engine.dispose()
    return rows


def staff_finishes(handoff_id: str) -> None:
    store = service.current_recorder().store
    store.claim(handoff_id, "staff:dana")
    store.resolve(handoff_id, "staff:dana")


def ask(priority=HandoffPriority.ROUTINE, reason="request_human", conversation="conv-7", **kw):
    return Submission(conversation, "rest", handoff=HandoffRequest(reason, priority), **kw)


def test_staff_are_texted_once_for_a_new_handoff_and_again_for_a_crisis_while_waiting(helpline):
    record(ask())
    record(ask())
    assert helpline.texts_to(ONCALL) == [ROUTINE_TEXT]  # asking twice: one handoff, one text
    record(ask(HandoffPriority.CRISIS, "crisis"), notify_existing=True)
    assert helpline.texts_to(ONCALL) == [ROUTINE_TEXT, URGENT_TEXT]
    (handoff,) = handoffs_of("conv-7")
    assert handoff.priority == HandoffPriority.CRISIS and handoff.notified_at is not None


def test_a_spooled_crisis_is_texted_as_urgent_when_it_lands_with_a_routine_request(
    helpline, monkeypatch
):
    # The database was down for the crisis; the next (routine) request writes both.
    LeadSpool(load_settings().lead_spool_dir).put(ask(HandoffPriority.CRISIS, "crisis", "conv-1"))
    record(ask(conversation="conv-2"))
    assert sorted(helpline.texts_to(ONCALL)) == sorted([URGENT_TEXT, ROUTINE_TEXT])


def test_with_the_profile_unreadable_staff_are_still_texted_about_a_crisis(helpline,
                                                                          unreadable_profile):
    # The center saved a mistake in the profile after the servers started: the alert has no
    # quiet hours to respect, so it goes out without the center's time zone.
    record(ask(HandoffPriority.CRISIS, "crisis"))
    assert helpline.texts_to(ONCALL) == [URGENT_TEXT]


def tracker(sender="conv-cap") -> Tracker:
    return Tracker(sender_id=sender, slots={}, latest_message={"text": "talk to a person"},
                   events=[{"event": "user", "text": "talk to a person", "input_channel": "rest",
                            "parse_data": {"intent": {"name": "request_human"}}}],
                   paused=False, followup_action=None, active_loop={},
                   latest_action_name="action_listen")


def ask_for_a_person(sender="conv-cap"):
    from bot.actions.handoff import ActionHandoff

    async def go():
        dispatcher = CollectingDispatcher()
        events = await ActionHandoff().run(dispatcher, tracker(sender), {})
        await service.notifications_settled()
        return dispatcher.messages, events

    return asyncio.run(go())


def test_the_fourth_request_for_a_person_in_a_day_opens_no_handoff_and_texts_no_one(helpline):
    for _ in range(3):
        messages, events = ask_for_a_person()
        assert messages[0]["response"] in ("utter_handoff_open", "utter_handoff_closed")
        assert events == [ConversationPaused()]
        staff_finishes(handoffs_of("conv-cap")[-1].id)  # resolved, then they ask again
    assert helpline.texts_to(ONCALL) == [ROUTINE_TEXT] * 3

    messages, events = ask_for_a_person()
    assert len(handoffs_of("conv-cap")) == 3
    assert helpline.texts_to(ONCALL) == [ROUTINE_TEXT] * 3
    # No counselor is promised, and the assistant is not paused into silence.
    assert messages[0]["response"] == "utter_handoff_capped"
    assert events == []
    # Another conversation is not held back by this one's cap.
    ask_for_a_person("someone-else")
    assert helpline.texts_to(ONCALL) == [ROUTINE_TEXT] * 4


def test_past_the_cap_a_crisis_still_opens_a_handoff_and_texts_staff(helpline):
    for _ in range(3):
        record(ask())
        staff_finishes(handoffs_of("conv-7")[-1].id)
    record(ask())
    assert len(handoffs_of("conv-7")) == 3
    record(ask(HandoffPriority.CRISIS, "crisis"), notify_existing=True)
    newest = handoffs_of("conv-7")[-1]
    assert (len(handoffs_of("conv-7")), newest.reason, newest.status) == (4, "crisis", "waiting")
    assert helpline.texts_to(ONCALL)[-1] == URGENT_TEXT


def test_the_cap_counts_the_last_24_hours_and_is_a_setting(tmp_path, monkeypatch):
    engine = make_engine(f"sqlite:///{tmp_path / 'leads.db'}")
    from bot.leads.database import ensure_schema

    ensure_schema(engine)
    store = LeadStore(engine, handoff_cap_per_conversation=2)
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
    for hours_ago in (50, 20, 10):  # the first is more than a day old: it does not count
        applied = store.apply(ask(submitted_at=(now - dt.timedelta(hours=hours_ago)).isoformat()))
        assert applied.handoff_is_new
        store.claim(applied.handoff_id, "staff:dana")
        store.resolve(applied.handoff_id, "staff:dana")
    capped = store.apply(ask(submitted_at=now.isoformat()))
    assert (capped.handoff_id, capped.handoff_is_new, capped.handoff_capped) == (None, False, True)

    monkeypatch.setenv("HANDOFF_CAP_PER_CONVERSATION", "5")
    assert load_settings().handoff_cap_per_conversation == 5
    monkeypatch.delenv("HANDOFF_CAP_PER_CONVERSATION")
    assert load_settings().handoff_cap_per_conversation == 3
    engine.dispose()


def test_a_spooled_handoff_keeps_its_priority(tmp_path):
    spool = LeadSpool(tmp_path / "spool")
    path = spool.put(ask(HandoffPriority.DETOX_FIRST, "prescreen_complete"))
    import json

    back = Submission.from_json_dict(json.loads(path.read_text()))
    assert back.handoff.priority is HandoffPriority.DETOX_FIRST
    assert back == ask(HandoffPriority.DETOX_FIRST, "prescreen_complete",
                       submission_id=back.submission_id, submitted_at=back.submitted_at)


# --- the Rasa server does not load the action server's code ---------------------------------

CONNECTOR_MODULES = sorted(p.stem for p in (PROJECT_ROOT / "connectors").glob("*.py"))


def test_no_connector_imports_the_actions_package_anywhere_in_its_code():
    for name in CONNECTOR_MODULES:
        tree = ast.parse((PROJECT_ROOT / "connectors" / f"{name}.py").read_text())
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)] + [
            alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names]
        offending = [m for m in imported if m and m.split(".")[0] == "rasa_sdk"
                     or m and m.startswith("bot.actions")]
        assert offending == [], f"connectors/{name}.py imports {offending}"


def test_recording_from_the_rasa_server_never_loads_the_action_server(tmp_path):
    """Imports every connector in a fresh interpreter and runs the code paths that record
    leads (crisis while paused, callback time, hang-up mid-pre-screen)."""
    script = textwrap.dedent(f"""
        import asyncio, sys, types
        from rasa.core.channels.channel import UserMessage, CollectingOutputChannel
        from rasa.core.tracker_store import InMemoryTrackerStore
        from rasa.shared.core.domain import Domain
        from rasa.shared.core.events import ActiveLoop, SlotSet
        from rasa.shared.core.trackers import DialogueStateTracker
        {"; ".join(f"import connectors.{m}" for m in CONNECTOR_MODULES)}
        from connectors import safety, twilio_voice
        from bot.handoff import service

        async def main():
            await safety.raise_handoff_priority("conv-1", "rest")
            await twilio_voice._record_callback_time("voice-1", "+13125550142", "mornings")
            domain = Domain.load("bot/domain")
            store = InMemoryTrackerStore(domain)
            tracker = DialogueStateTracker.from_events("voice-2", [
                ActiveLoop("prescreen_form"), SlotSet("ps_first_name", "Sam")], domain.slots)
            await store.save(tracker)
            request = types.SimpleNamespace(app=types.SimpleNamespace(
                ctx=types.SimpleNamespace(agent=types.SimpleNamespace(tracker_store=store))))
            await twilio_voice.keep_partial_lead(request, "voice-2", "+13125550143")
            await service.notifications_settled()

        asyncio.run(main())
        print(sorted(m for m in ("bot.actions", "rasa_sdk", "spacy") if m in sys.modules))
    """)
    env = {"PYTHONPATH": str(PROJECT_ROOT), "DATABASE_URL": f"sqlite:///{tmp_path / 'leads.db'}",
           "LEAD_SPOOL_DIR": str(tmp_path / "spool"), "VAR_DIR": str(tmp_path),
           "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
    engine = make_engine(f"sqlite:///{tmp_path / 'leads.db'}")
    with Session(engine, future=True) as session:
        from bot.leads.schema import Lead

        leads = {lead.conversation_id: lead for lead in session.execute(select(Lead)).scalars()}
        crisis = session.execute(select(Handoff)).scalar_one()
    assert (leads["voice-1"].best_time, leads["voice-1"].phone_verified) == ("mornings", True)
    assert (leads["voice-2"].first_name, leads["voice-2"].phone_e164) == ("Sam", "+13125550143")
    assert (crisis.conversation_id, crisis.priority) == ("conv-1", HandoffPriority.CRISIS)
    engine.dispose()
