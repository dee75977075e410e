"""Message rates counted once for the whole cluster, in Redis.

Behind a round-robin load balancer each instance sees only its share of a visitor's
messages: counted per instance, two instances let a script send twice the allowance, and
every instance the autoscaler adds raises it again. With a Redis URL (the cluster), each
key's recent message times live in one Redis sorted set, trimmed, counted and added to by a
single Lua script, so two instances counting the same visitor at once can never both take
the last place. The window slides as the in-process one does (bot/rate_limit.py) and a
refused message is not counted.

Redis never sees an address or a conversation id: keys are keyed hashes of them, and they
expire with their window. If Redis fails, the instance counts on its own for a while rather
than refusing everyone or waiting on Redis: a person in crisis must never be held up by the
limiter, and a per-instance limit still bounds a flood.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import uuid
from typing import Callable

from redis.commands.core import AsyncScript

from bot.rate_limit import SlidingWindowLimiter
from bot.redis_per_loop import RedisPerLoop

logger = logging.getLogger(__name__)

KEY_PREFIX = "iop:rate:"
# A limiter is asked on every message: Redis answers in well under a millisecond on a
# network, and a Redis that does not answer within this is treated as down.
REDIS_TIMEOUT_S = 0.5
# After a failure the instance counts on its own this long before asking Redis again, so a
# Redis that is down costs one timeout every few seconds, not one per message.
LOCAL_AFTER_FAILURE_S = 5.0
# Until when each Redis URL is taken for down: one switch for every limiter of the process,
# so a message asking three limiters pays for Redis's silence once, not three times.
_down_until: dict[str, float] = {}
_clients: dict[str, RedisPerLoop] = {}

# KEYS[1]: the key's message times (ms on Redis's clock, the same for every instance).
# ARGV: limit, window in ms, 1 to count this message or 0 to only look, a unique member.
# Returns -1 when allowed, else whole seconds until the oldest counted message leaves.
_CHECK_AND_COUNT_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
  return math.max(1, math.ceil((oldest + window - now) / 1000))
end
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
end
return -1
"""
# Sent by its SHA (EVALSHA), loaded into Redis on first use or after Redis restarted.
_CHECK_AND_COUNT = AsyncScript(None, _CHECK_AND_COUNT_LUA.encode())


class SharedRateLimiter:
    """One allowance per key for every instance using the same Redis and key secret.

    Without a Redis URL (one server on embedded defaults) it is the in-process limiter.
    """

    def __init__(self, name: str, limit: int, window_s: float, redis_url: str | None,
                 key_secret: bytes, clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.limit = limit
        self.window_s = window_s
        self._redis_url = redis_url
        self._key_secret = key_secret
        self._clock = clock
        self._local = SlidingWindowLimiter(limit, window_s, clock=clock)
        self._redis = _clients_for(redis_url) if redis_url is not None else None

    async def retry_after(self, key: str, count: bool = True) -> int | None:
        """Counts one message for `key`; None when allowed, else whole seconds to wait.

        With count=False it only looks. A limit of 0 or less turns the limiter off.
        """
        if self.limit <= 0:
            return None
        if self._redis_url is None or self._clock() < _down_until.get(self._redis_url, 0.0):
            return self._local.retry_after(key, count)
        try:
            wait = await self._checked_in_redis(key, count)
        except Exception as error:  # unreachable, restarting, timed out, refused by an ACL
            _down_until[self._redis_url] = self._clock() + LOCAL_AFTER_FAILURE_S
            logger.warning("rate limit %s: Redis failed (%s); counting on this instance for "
                           "%.0f s", self.name, type(error).__name__, LOCAL_AFTER_FAILURE_S)
            await self._redis.discard()
            return self._local.retry_after(key, count)
        return None if wait < 0 else int(wait)

    def redis_key(self, key: str) -> str:
        # Keyed, so nobody holding a copy of Redis can test which address wrote.
        digest = hmac.new(self._key_secret, f"{self.name}\0{key}".encode("utf-8", "replace"),
                          hashlib.sha256).hexdigest()[:32]
        return f"{KEY_PREFIX}{self.name}:{digest}"

    async def _checked_in_redis(self, key: str, count: bool) -> int:
        result = await asyncio.wait_for(
            _CHECK_AND_COUNT(keys=[self.redis_key(key)],
                             args=[self.limit, int(self.window_s * 1000), 1 if count else 0,
                                   uuid.uuid4().hex],
                             client=self._redis.client()),
            timeout=REDIS_TIMEOUT_S * 2)
        return int(result)


def _clients_for(redis_url: str) -> RedisPerLoop:
    # Every limiter of the process on one Redis shares one connection pool.
    clients = _clients.get(redis_url)
    if clients is None:
        clients = _clients[redis_url] = RedisPerLoop(
            redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
    return clients
