"""The facility profile as the action server sees it (loaded once per process)."""
from __future__ import annotations

from bot.facility import FacilityProfile, cached_profile
from bot.settings import load_settings


def current_profile() -> FacilityProfile:
    return cached_profile(load_settings().facility_profile_path)
