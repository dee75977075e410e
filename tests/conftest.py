"""Shared fixtures: the loaded domain, the facility profile, and trackers for action tests."""
from __future__ import annotations

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
