"""Shared fixtures: the loaded domain, the facility profile, and trackers for action tests."""
from __future__ import annotations

import os
import string
import uuid
from pathlib import Path

import pytest
import yaml

from bot.facility import load_profile
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
        examples = [line[2:].strip() for line in block["examples"].splitlines() if line.startswith("- ")]
        by_intent.setdefault(block["intent"], []).extend(examples)
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
        pytest.skip(f"no PostgreSQL server reachable at TEST_POSTGRES_URL; "
                    f"the SQLite variant of this test still runs")

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
