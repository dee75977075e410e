"""Settings as `.env.example` leaves them: a variable present but blank means its default."""
from __future__ import annotations

from bot.settings import BOT_DIR, load_settings


def test_blank_paths_and_origins_mean_the_defaults(monkeypatch):
    for name in ("FACILITY_PROFILE", "CRISIS_PATTERNS", "WEBSITE_ORIGINS", "RASA_PORT"):
        monkeypatch.setenv(name, "")
    settings = load_settings()
    assert settings.facility_profile_path == BOT_DIR / "facility_profile.yml"
    assert settings.crisis_patterns_path == BOT_DIR / "safety" / "patterns"
    assert settings.website_origins == ()
    assert settings.rasa_port == 5005


def test_website_origins_are_a_list_without_trailing_slashes(monkeypatch):
    monkeypatch.setenv("WEBSITE_ORIGINS", " https://www.example.org/, https://example.org ")
    assert load_settings().website_origins == ("https://www.example.org", "https://example.org")
