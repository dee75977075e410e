"""Shared fixtures: the loaded domain, the facility profile, and trackers for action tests."""
from __future__ import annotations

import asyncio
import os
import string
import threading
import uuid
from pathlib import Path

import pytest
import yaml

from bot.facility import load_profile
from bot.facility_faq import load_facility_faq
from bot.settings import BOT_DIR, load_settings

DOMAIN_DIR = BOT_DIR / "domain"
NLU_DIR = BOT_DIR / "data" / "nlu"


def _merged_yaml(directory: Path, key: str) -> dict | list:
    merged: dict | list | None = None
    for path in sorted(directory.glob("*.yml")):
        part = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(key)
        if part is None:
            continue
        if merged is None:
            merged = type(part)()
        merged.update(part) if isinstance(part, dict) else merged.extend(part)
    return merged or {}


@pytest.fixture(scope="session")
def responses() -> dict[str, list[dict]]:
    return _merged_yaml(DOMAIN_DIR, "responses")


@pytest.fixture(scope="session")
def nlu_examples() -> dict[str, list[str]]:
    by_intent: dict[str, list[str]] = {}
    for block in _merged_yaml(NLU_DIR, "nlu"):
        if "intent" not in block:  # lookup tables
            continue
        examples = [line[2:].strip() for line in block["examples"].splitlines()
                    if line.startswith("- ")]
        by_intent.setdefault(block["intent"], []).extend(examples)
    # A center's own questions are training examples too (bot/facility_faq.yml).
    for question in load_facility_faq():
        by_intent.setdefault(f"faq/{question.key}", []).extend(question.examples)
    return by_intent


@pytest.fixture(scope="session")
def profile():
    return load_profile(load_settings().facility_profile_path)


@pytest.fixture(scope="session")
def filled(responses, profile):
    """A reply's exact text as the person sees it, filled from the facility profile."""
    values = profile.reply_slots()
    return lambda name, **extra: string.Formatter().vformat(
        responses[name][0]["text"], (), {**values, **extra}
    )


# --- leads database: every database test runs on SQLite and on the real PostgreSQL server ---

# .ci/run sets it; locally it defaults to the server this machine runs.
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _throwaway_postgres_database() -> tuple[str, callable]:
    """A fresh database on the server, and how to drop it; skips when no server answers."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    admin = create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    name = f"leads_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError:
        admin.dispose()
        pytest.skip("no PostgreSQL server reachable at TEST_POSTGRES_URL; "
                    "the SQLite variant of this test still runs")

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", drop


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path):
    """The URL of an empty leads database (no tables yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'leads.db'}"
        return
    url, drop = _throwaway_postgres_database()
    yield url
    drop()


@pytest.fixture
def leads_engine(empty_database_url):
    from bot.leads.database import make_engine, upgrade

    engine = make_engine(empty_database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def action_leads_store(tmp_path, monkeypatch):
    """Points the action server's leads database at a fresh SQLite file; returns its store."""
    from bot.leads.recording import recorder_from_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'leads.db'}")
    monkeypatch.setenv("LEAD_SPOOL_DIR", str(tmp_path / "spool"))

    def store():
        recorder = recorder_from_settings(load_settings())
        recorder.ensure_schema()
        return recorder.store

    return store


# --- Twilio connectors served in-process, with a scripted assistant -------------------------

class ScriptedAssistant:
    """Replies "echo: <text>", or as told; records who it heard from (conversation ids)."""

    def __init__(self):
        self.heard: list[tuple[str, str]] = []
        self.delay = 0.0
        self.reply = None
        self.custom = None  # a custom payload sent after the reply, as a domain response can
        self.crash = False

    async def __call__(self, message):
        self.heard.append((message.sender_id, message.text))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.crash:
            raise RuntimeError("model exploded")
        text = self.reply if self.reply is not None else f"echo: {message.text}"
        if text:
            await message.output_channel.send_text_message(message.sender_id, text)
        if self.custom:
            await message.output_channel.send_custom_json(message.sender_id, self.custom)


def serve_in_thread(app, port: int):
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def run():
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
        await server.startup()
        started.set()
        await server.serve_forever()

    def serve():
        try:
            loop.run_until_complete(run())
        except RuntimeError:  # loop.stop() at teardown ends serve_forever this way
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(20), "test server did not start"
    return loop


@pytest.fixture(scope="session")
def twilio_server(tmp_path_factory):
    """Our SMS and voice blueprints served by Sanic, with a scripted assistant behind them.

    One server for the whole session: Sanic cannot start a second app in one process.
    """
    var_dir = tmp_path_factory.mktemp("twilio")
    from sanic import Sanic

    from connectors import twilio_common
    from connectors.twilio_sms import TwilioSmsInput
    from connectors.twilio_voice import TwilioVoiceInput
    from scripts.stack import free_port
    from scripts.twilio_local import FakeTwilioApi, twilio_environment

    with FakeTwilioApi() as api, pytest.MonkeyPatch.context() as patch:
        for name, value in twilio_environment(api, var_dir).items():
            patch.setenv(name, value)
        patch.setenv("SMS_REPLY_BUDGET_SECONDS", "3")
        twilio_common.channel_config.cache_clear()
        assistant = ScriptedAssistant()
        app = Sanic(f"twilio_test_{uuid.uuid4().hex[:8]}")
        app.blueprint(TwilioSmsInput().blueprint(assistant), url_prefix="/webhooks/twilio_sms")
        app.blueprint(TwilioVoiceInput().blueprint(assistant),
                      url_prefix="/webhooks/twilio_voice")
        port = free_port()
        loop = serve_in_thread(app, port)
        yield f"http://127.0.0.1:{port}", api, assistant, var_dir
        loop.call_soon_threadsafe(loop.stop)
    twilio_common.channel_config.cache_clear()




# --- one real assistant shared by the end-to-end modules that need nothing special ----------

@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory):
    """The real Rasa and action servers, with the phone channels on (signed webhooks, a local
    Twilio stand-in), shared by the end-to-end modules whose conversations never meet: starting
    one takes most of a minute. Modules that need other settings start their own."""
    from scripts.stack import free_port
    from scripts.twilio_local import FakeTwilioApi, twilio_environment
    from tests.stack_helpers import throwaway_stack

    workdir = tmp_path_factory.mktemp("shared-stack")
    # A site allowed to embed the chat widget (tests/test_stack_widget.py serves it).
    embedding_port = free_port()
    with FakeTwilioApi() as api:
        env = {**twilio_environment(api, workdir / "var"),
               "WEBSITE_ORIGINS": f"http://localhost:{embedding_port}"}
        with throwaway_stack(workdir, extra_env=env) as stack:
            stack.embedding_port = embedding_port
            yield stack


@pytest.fixture
def unreadable_profile(monkeypatch):
    """The facility profile as a center's mistake, saved after the servers started, leaves
    it: every fresh read fails (the cache is emptied before and after)."""
    from bot import facility

    def unreadable(path):
        raise facility.FacilityProfileError("profile.yml is not valid YAML near line 3")
    monkeypatch.setattr(facility, "load_profile", unreadable)
    facility.cached_profile.cache_clear()
    yield
    monkeypatch.undo()
    facility.cached_profile.cache_clear()


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, one per module that asks for it (tests/browser_helpers.py)."""
    from tests.browser_helpers import launch_browser

    yield from launch_browser()
