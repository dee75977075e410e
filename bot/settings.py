"""The one place that reads the environment; every other module asks this one."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BOT_DIR = PROJECT_ROOT / "bot"


def _int_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from error


@dataclass(frozen=True)
class Settings:
    rasa_port: int
    actions_port: int
    # When set, Rasa's HTTP API requires ?token=...; the REST channel stays open.
    rasa_api_token: str | None
    facility_profile_path: Path
    crisis_patterns_path: Path
    var_dir: Path


def load_settings() -> Settings:
    return Settings(
        rasa_port=_int_from_env("RASA_PORT", 5005),
        actions_port=_int_from_env("ACTIONS_PORT", 5055),
        rasa_api_token=os.environ.get("RASA_API_TOKEN") or None,
        facility_profile_path=Path(
            os.environ.get("FACILITY_PROFILE", BOT_DIR / "facility_profile.yml")
        ),
        crisis_patterns_path=Path(
            os.environ.get("CRISIS_PATTERNS", BOT_DIR / "safety" / "crisis_patterns.yml")
        ),
        var_dir=Path(os.environ.get("VAR_DIR", PROJECT_ROOT / "var")),
    )
