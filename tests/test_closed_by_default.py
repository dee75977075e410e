"""The pieces that keep strangers out: issued conversation ids, rate limits, private secrets."""
from __future__ import annotations

import dataclasses

import pytest

from bot.local_secrets import (
    action_server_token,
    ensure_private_dir,
    load_or_create_secret,
    rasa_api_token,
)
from bot.messaging.pseudonym import (
    conversation_id_for,
    is_issued_web_conversation_id,
    issue_web_conversation_id,
)
from bot.rate_limit import SlidingWindowLimiter
from bot.settings import load_settings

SECRET = b"server secret"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_issued_website_id_is_accepted_back_and_each_is_new():
    first, second = issue_web_conversation_id(SECRET), issue_web_conversation_id(SECRET)
    assert first != second
    assert is_issued_web_conversation_id(first, SECRET)
    assert is_issued_web_conversation_id(second, SECRET)


@pytest.mark.parametrize("forged", [
    None, "", "default", "me", "web-", "web-abc", "web-abc.", 12345, ["web-x.y"], {"id": 1},
    "web-" + "a" * 200,
    conversation_id_for("twilio_sms", "+13125550142", SECRET),  # an SMS conversation's id
])
def test_an_id_the_server_did_not_issue_is_refused(forged):
    assert not is_issued_web_conversation_id(forged, SECRET)


def test_an_altered_or_foreign_id_is_refused():
    issued = issue_web_conversation_id(SECRET)
    nonce, signature = issued.split(".")
    assert not is_issued_web_conversation_id(f"{nonce}.{'0' * len(signature)}", SECRET)
    other_last = "A" if nonce[-1] != "A" else "B"
    assert not is_issued_web_conversation_id(f"{nonce[:-1]}{other_last}.{signature}", SECRET)
    assert not is_issued_web_conversation_id(issued, b"another server's secret")
    # Non-ASCII in the signature is refused, not an error (compare_digest raises on it).
    assert not is_issued_web_conversation_id(f"{nonce}.\u0660{signature[1:]}", SECRET)
    assert not is_issued_web_conversation_id("web-abc.\ud800", SECRET)


def test_the_limiter_refuses_past_the_limit_and_says_how_long_to_wait():
    clock = Clock()
    limiter = SlidingWindowLimiter(3, 60, clock=clock)
    assert [limiter.retry_after("a") for _ in range(3)] == [None, None, None]
    clock.now += 10
    wait = limiter.retry_after("a")
    assert wait == 50  # the first of the three leaves the window 50 s from now
    assert limiter.retry_after("b") is None  # another key has its own allowance
    clock.now += 50
    assert limiter.retry_after("a") is None


def test_a_refused_message_does_not_use_up_the_allowance():
    clock = Clock()
    limiter = SlidingWindowLimiter(1, 60, clock=clock)
    assert limiter.retry_after("a") is None
    for _ in range(100):
        assert limiter.retry_after("a") is not None
    clock.now += 60
    assert limiter.retry_after("a") is None


def test_a_limit_of_zero_turns_the_limiter_off():
    limiter = SlidingWindowLimiter(0)
    assert all(limiter.retry_after("a") is None for _ in range(1000))


def test_a_flood_of_new_keys_does_not_grow_memory_without_bound():
    limiter = SlidingWindowLimiter(1, max_keys=100)
    for n in range(10_000):
        limiter.retry_after(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter._hits) == 100


def test_generated_tokens_are_private_stable_and_the_configured_one_wins(tmp_path):
    settings = load_settings().with_var_dir(tmp_path / "var")
    settings = dataclasses.replace(settings, rasa_api_token=None, action_server_token=None)
    token = rasa_api_token(settings)
    assert len(token) >= 40 and rasa_api_token(settings) == token  # kept across restarts
    assert action_server_token(settings) != token
    assert settings.rasa_api_token_path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "var").stat().st_mode & 0o777 == 0o700
    configured = dataclasses.replace(settings, rasa_api_token="from-the-environment")
    assert rasa_api_token(configured) == "from-the-environment"


def test_a_var_directory_left_open_by_an_older_version_is_closed(tmp_path):
    (tmp_path / "var").mkdir(mode=0o755)
    (tmp_path / "var").chmod(0o755)
    ensure_private_dir(tmp_path / "var")
    assert (tmp_path / "var").stat().st_mode & 0o777 == 0o700


def test_two_processes_starting_at_once_agree_on_one_secret(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(4) as pool:
        values = set(pool.map(load_or_create_secret, [None] * 8, [tmp_path / "k"] * 8))
    assert len(values) == 1
