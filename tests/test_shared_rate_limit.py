"""Rate limits in a cluster: one allowance per visitor and conversation for all instances.

Each `SharedRateLimiter` here stands for one instance: its own object, client and in-process
fallback, sharing only Redis and the key secret, as two Rasa instances do.
"""
from __future__ import annotations

import asyncio
import uuid

import redis as sync_redis

from bot import shared_rate_limit
from bot.shared_rate_limit import SharedRateLimiter
from scripts.stack import free_port
from tests.stack_helpers import LocalRedis
from tests.test_conversation_lock import REDIS_URL, redis_or_skip

SECRET = b"test-secret-shared-by-the-cluster"
ADDRESS = "203.0.113.7"


def two_instances(limit: int, url: str = REDIS_URL, window_s: float = 60,
                  clock=None) -> tuple[SharedRateLimiter, SharedRateLimiter]:
    # A name of the test's own: its keys never meet another test's.
    name = f"test-{uuid.uuid4().hex[:8]}"
    extra = {"clock": clock} if clock else {}
    return (SharedRateLimiter(name, limit, window_s, url, SECRET, **extra),
            SharedRateLimiter(name, limit, window_s, url, SECRET, **extra))


def test_messages_through_either_instance_count_against_one_allowance():
    redis_or_skip()
    a, b = two_instances(limit=3)

    async def alternate():
        return [await (a, b)[turn % 2].retry_after(ADDRESS) for turn in range(5)]

    answers = asyncio.run(alternate())
    assert answers[:3] == [None, None, None]
    # Counted per instance, a would have had 3 and b 3: the 4th and 5th would pass.
    assert all(isinstance(wait, int) and 1 <= wait <= 60 for wait in answers[3:]), answers
    # Another visitor has an allowance of their own.
    assert asyncio.run(b.retry_after("198.51.100.20")) is None


def test_messages_at_once_on_two_instances_never_both_take_the_last_place():
    redis_or_skip()
    a, b = two_instances(limit=5)

    async def at_once():
        return await asyncio.gather(*((a, b)[turn % 2].retry_after(ADDRESS)
                                      for turn in range(40)))

    answers = asyncio.run(at_once())
    assert answers.count(None) == 5, answers


def test_looking_and_refusing_count_nothing():
    redis_or_skip()
    a, b = two_instances(limit=2)

    async def scenario():
        looks = [await a.retry_after(ADDRESS, count=False) for _ in range(5)]
        taken = [await a.retry_after(ADDRESS), await b.retry_after(ADDRESS)]
        refused = [await b.retry_after(ADDRESS) for _ in range(5)]
        return looks, taken, refused

    looks, taken, refused = asyncio.run(scenario())
    assert looks == [None] * 5 and taken == [None, None]
    assert None not in refused


def test_the_window_slides_the_same_for_every_instance():
    redis_or_skip()
    a, b = two_instances(limit=1, window_s=1)

    async def scenario():
        first = await a.retry_after(ADDRESS)
        refused = await b.retry_after(ADDRESS)
        await asyncio.sleep(1.1)
        return first, refused, await b.retry_after(ADDRESS)

    assert asyncio.run(scenario()) == (None, 1, None)


def test_redis_holds_neither_the_address_nor_the_conversation_id_and_forgets_them():
    client = redis_or_skip()
    a, _ = two_instances(limit=5)
    conversation_id = "web-0123456789abcdef"

    async def count_both():
        await a.retry_after(ADDRESS)
        await a.retry_after(conversation_id)

    asyncio.run(count_both())
    keys = [key.decode() for key in client.scan_iter(match=f"*{a.name}*")]
    assert len(keys) == 2
    stored = " ".join(keys + [member.decode() for key in keys
                              for member in client.zrange(key, 0, -1)])
    assert ADDRESS not in stored and conversation_id not in stored
    assert all(0 < client.pttl(key) <= 60_000 for key in keys)


def test_with_redis_down_each_instance_still_limits_and_shares_again_once_it_is_back():
    redis = LocalRedis(free_port()).start()
    now = [1000.0]
    a, b = two_instances(limit=2, url=redis.url, clock=lambda: now[0])
    try:
        async def count(limiter):
            # Never a hang: a Redis that is down costs at most its short timeout.
            return await asyncio.wait_for(limiter.retry_after(ADDRESS), 10)

        assert asyncio.run(count(a)) is None
        redis.stop()
        # Down: a counts on its own (its one message in Redis is not seen), so it still
        # refuses past the limit rather than letting everything through or failing.
        down = [asyncio.run(count(a)) for _ in range(3)]
        assert down[:2] == [None, None] and isinstance(down[2], int), down
        redis.start()
        # Still counting alone for a few seconds after the failure, then Redis again, where
        # the history was lost with the restart: b and a share a fresh allowance.
        now[0] += shared_rate_limit.LOCAL_AFTER_FAILURE_S + 1
        back = [asyncio.run(count(limiter)) for limiter in (b, a, b)]
        assert back[:2] == [None, None] and isinstance(back[2], int), back
        assert sync_redis.Redis.from_url(redis.url).keys(f"*{a.name}*")
    finally:
        redis.stop()


def test_without_redis_one_server_counts_in_process():
    limiter = SharedRateLimiter("local", 2, 60, None, SECRET)

    async def scenario():
        return [await limiter.retry_after(ADDRESS) for _ in range(3)]

    answers = asyncio.run(scenario())
    assert answers[:2] == [None, None] and isinstance(answers[2], int)


def test_once_redis_has_failed_every_limiter_of_the_instance_counts_alone_at_once():
    # Nothing listens there: the first limiter finds Redis down, the others do not ask it.
    url = f"redis://127.0.0.1:{free_port()}/0"
    now = [5000.0]
    limiters = [SharedRateLimiter(name, 5, 60, url, SECRET, clock=lambda: now[0])
                for name in ("address", "conversation", "new-conversations")]
    asked = []

    async def scenario():
        for limiter in limiters:
            original = limiter._checked_in_redis

            async def counting(key, count, original=original):
                asked.append(key)
                return await original(key, count)

            limiter._checked_in_redis = counting
        return [await limiter.retry_after(ADDRESS) for limiter in limiters]

    assert asyncio.run(scenario()) == [None, None, None]
    assert len(asked) == 1
