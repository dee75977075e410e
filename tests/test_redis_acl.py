"""The Redis user documented in deploy/redis-acl.txt can do all the assistant needs, and
nothing it does falls back to working without Redis: the lock store takes turns in Redis,
the rate limits count there, and live chat messages cross it."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis import Redis as SyncRedis

from bot import shared_rate_limit
from bot.conversation_lock import AtomicRedisLockStore, lock_keys
from bot.shared_rate_limit import SharedRateLimiter
from connectors.website_chat import CROSS_INSTANCE_CHANNEL, CrossInstanceManager
from tests.stack_helpers import LocalRedis, free_port

ACL_FILE = Path(__file__).resolve().parents[1] / "deploy" / "redis-acl.txt"
ASSISTANT_PASSWORD = "assistant-test-password"
ADMIN_PASSWORD = "admin-test-password"


def documented_rules() -> str:
    lines = [line.strip() for line in ACL_FILE.read_text().splitlines()]
    rules = [line for line in lines if line and not line.startswith("#")]
    assert len(rules) == 1, "the file holds one user's rules"
    return rules[0]


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory):
    acl = tmp_path_factory.mktemp("redis-acl") / "users.acl"
    acl.write_text(f"user default off\n"
                   f"user admin on >{ADMIN_PASSWORD} ~* &* +@all\n"
                   f"user iop {documented_rules()} >{ASSISTANT_PASSWORD}\n")
    redis = LocalRedis(free_port()).start(extra_args=["--aclfile", str(acl)])
    yield (f"redis://iop:{ASSISTANT_PASSWORD}@127.0.0.1:{redis.port}/1",
           SyncRedis(port=redis.port, db=1, username="admin", password=ADMIN_PASSWORD))
    redis.stop()


def test_the_documented_user_can_take_conversation_turns_in_order(acl_redis):
    url, admin = acl_redis
    store = AtomicRedisLockStore(url=url)
    order: list[str] = []

    async def turn(name: str, hold_s: float) -> None:
        async with store.lock("conversation-1", lock_lifetime=5):
            order.append(f"{name} starts")
            await asyncio.sleep(hold_s)
            order.append(f"{name} ends")

    async def two_at_once():
        first = asyncio.create_task(turn("first", 0.3))
        await asyncio.sleep(0.05)
        await asyncio.gather(first, turn("second", 0))

    asyncio.run(two_at_once())
    assert order == ["first starts", "first ends", "second starts", "second ends"]
    # The turns ran through Redis: the counter there issued both tickets.
    assert admin.get(lock_keys("conversation-1")[0]) == b"2"


def test_the_documented_user_counts_rate_limits_in_redis(acl_redis, monkeypatch):
    url, admin = acl_redis
    monkeypatch.setattr(shared_rate_limit, "_down_until", {})
    limiter = SharedRateLimiter("acl-test", 2, 60, url, b"k" * 32)

    async def three_messages():
        return [await limiter.retry_after("203.0.113.7") for _ in range(3)]

    answers = asyncio.run(three_messages())
    assert answers[:2] == [None, None] and isinstance(answers[2], int)
    assert shared_rate_limit._down_until == {}, "fell back to counting on this instance"
    assert admin.zcard(limiter.redis_key("203.0.113.7")) == 2


def test_the_documented_user_carries_live_chat_messages_across_instances(acl_redis):
    url, admin = acl_redis

    async def one_reply_across():
        listener, sender = CrossInstanceManager(url), CrossInstanceManager(url)
        received: list[bytes] = []

        async def listen() -> None:
            async for data in listener._listen():
                received.append(data)

        listening = asyncio.create_task(listen())
        try:
            for _ in range(200):  # until the listener has subscribed
                if admin.pubsub_numsub(CROSS_INSTANCE_CHANNEL)[0][1]:
                    break
                await asyncio.sleep(0.05)
            reached = await sender._publish({"method": "emit", "event": "bot_uttered"})
            await asyncio.sleep(0.5)
        finally:
            listening.cancel()
        return reached, received

    reached, received = asyncio.run(one_reply_across())
    assert reached == 1
    assert len(received) == 1 and b"bot_uttered" in received[0]
