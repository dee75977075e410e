"""One turn at a time per conversation, across every Rasa instance: a lock store on Redis.

Rasa 3.6's `RedisLockStore` keeps a conversation's ticket queue as one JSON value and changes
it by reading it, editing it in Python and writing it back. Two instances taking a ticket for
the same conversation at once both read the same queue, both take the same number, and both
proceed: the turns interleave, and a pre-screen answer can be lost or answered twice. Rasa's
atomic variant is in Rasa Pro only.

Here every change to the queue is one Lua script, which Redis runs atomically:
- a ticket is `INCR` of the conversation's counter, queued in the same script;
- the ticket at the head of the queue holds the lock, for a lifetime counted from when it got
  there and renewed while its turn runs; expired tickets (an instance that died holding one)
  are dropped whenever the queue is looked at, using Redis's clock, so instances whose clocks
  differ still agree;
- releasing a ticket wakes the next one through a list it waits on with `BLPOP`, so a waiting
  turn starts as soon as the previous one ends, without polling.

Configured in endpoints (see endpoints-cluster.yml):
    lock_store:
      type: bot.conversation_lock.AtomicRedisLockStore
      url: redis://127.0.0.1:6379/1
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, AsyncIterator

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore

from bot.redis_per_loop import RedisPerLoop

if TYPE_CHECKING:
    from rasa.utils.endpoints import EndpointConfig
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

DEFAULT_URL = "redis://127.0.0.1:6379/1"
KEY_PREFIX = "iop:lock:"
# A waiting turn re-checks the queue at least this often, in case the ticket ahead of it
# expired without being released (its instance died) and so nobody will wake it.
LONGEST_WAIT_S = 1.0
# The counter outlives any ticket by far: a number must never be issued twice while a turn
# that holds it may still be waiting.
COUNTER_LIFETIME_S = 24 * 3600
# A held ticket is renewed this many times per lifetime, so one renewal that fails (Redis
# restarting) still leaves time for the next.
RENEWALS_PER_LIFETIME = 3
# No real turn comes near this: Rasa gives up on the action server after 300 s. A turn still
# running then is stuck, and the conversation must not stay locked behind it for ever.
LONGEST_TURN_S = 360.0
# Redis must answer within this; a Redis that is down fails a turn rather than hanging it.
SOCKET_TIMEOUT_S = 5.0

# Milliseconds on Redis's clock, the same for every instance.
_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""
# Drops expired tickets; leaves `head` as the ticket now served (or false).
_PRUNE = """
local queued = redis.call('ZRANGE', KEYS[2], 0, -1)
for _, ticket in ipairs(queued) do
  local expires = tonumber(redis.call('HGET', KEYS[3], ticket) or '0')
  if expires <= now then
    redis.call('ZREM', KEYS[2], ticket)
    redis.call('HDEL', KEYS[3], ticket)
  end
end
local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
"""
# KEYS: counter, queue, expiries. ARGV: lifetime ms, counter lifetime ms. Returns the ticket.
ISSUE_SCRIPT = _NOW + """
local ticket = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ticket, ticket)
redis.call('HSET', KEYS[3], ticket, now + tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[2], ARGV[1] * 2)
redis.call('PEXPIRE', KEYS[3], ARGV[1] * 2)
return ticket
"""
# Gives the ticket at the head of the queue a full lifetime from now.
_EXTEND_HEAD = """
redis.call('HSET', KEYS[3], head, now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[2], ARGV[2] * 2)
redis.call('PEXPIRE', KEYS[3], ARGV[2] * 2)
"""
# KEYS: counter, queue, expiries. ARGV: ticket, lifetime ms. Returns {state, ms}: state 1 =
# held (and its lifetime starts now, however long it waited), 0 = waiting (ms: until the
# head's ticket expires), -1 = this ticket expired while waiting.
ACQUIRE_SCRIPT = _NOW + _PRUNE + """
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return {-1, 0}
end
if head == ARGV[1] then
""" + _EXTEND_HEAD + """
  return {1, 0}
end
return {0, tonumber(redis.call('HGET', KEYS[3], head)) - now}
"""
# KEYS: counter, queue, expiries. ARGV: ticket, lifetime ms. Returns 1 if the ticket still
# held the lock and now has a full lifetime again, 0 if it had already expired.
RENEW_SCRIPT = _NOW + _PRUNE + """
if head ~= ARGV[1] then
  return 0
end
""" + _EXTEND_HEAD + """
return 1
"""
# KEYS: counter, queue, expiries, wake-list prefix. ARGV: ticket, wake lifetime ms.
# Returns the ticket now served, if any, after pushing onto its wake list.
RELEASE_SCRIPT = _NOW + """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[4] .. ARGV[1])
""" + _PRUNE + """
if head then
  redis.call('RPUSH', KEYS[4] .. head, '1')
  redis.call('PEXPIRE', KEYS[4] .. head, ARGV[2])
end
return head
"""


def lock_keys(conversation_id: str) -> tuple[str, str, str, str]:
    """The Redis keys of one conversation's queue: counter, queue, expiries, wake prefix.

    Keyed by a digest, so Redis never holds a conversation id (an SMS conversation's id is
    derived from a phone number), and one hash tag keeps them in one Redis Cluster slot.
    """
    digest = hashlib.sha256(conversation_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    base = f"{KEY_PREFIX}{{{digest}}}:"
    return base + "counter", base + "queue", base + "expires", base + "wake:"


class AtomicRedisLockStore(LockStore):
    """Rasa's ticket lock, with each step one atomic Redis script and no polling."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, *, url: str | None = None,
                 socket_timeout: float = SOCKET_TIMEOUT_S) -> None:
        config: dict[str, Any] = dict(endpoint_config.kwargs) if endpoint_config else {}
        self.url = url or (endpoint_config.url if endpoint_config else None) or DEFAULT_URL
        self.socket_timeout = float(config.get("socket_timeout", socket_timeout))
        # Waiting on a wake list blocks for up to LONGEST_WAIT_S; the socket allows that.
        self._clients = RedisPerLoop(
            self.url, socket_timeout=self.socket_timeout + LONGEST_WAIT_S,
            socket_connect_timeout=self.socket_timeout, health_check_interval=30)
        super().__init__()

    def _redis(self) -> Redis:
        return self._clients.client()

    @asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = LONGEST_WAIT_S) -> AsyncIterator[TicketLock]:
        """Holds the conversation's lock for the body of the `async with`.

        Raises LockError when Redis cannot be reached or the ticket expired while waiting,
        so the turn fails at once with an error the channel turns into a kind reply.
        """
        from redis.exceptions import RedisError

        keys = lock_keys(conversation_id)
        lifetime_ms = max(1, int(lock_lifetime * 1000))
        try:
            ticket = int(await self._redis().eval(
                ISSUE_SCRIPT, 3, *keys[:3], lifetime_ms, COUNTER_LIFETIME_S * 1000))
        except RedisError as error:
            raise LockError(f"the lock store is unreachable ({type(error).__name__})") from error
        renewing = None
        try:
            await self._wait_for_turn(keys, ticket, min(wait_time_in_seconds, LONGEST_WAIT_S),
                                      lifetime_ms)
            renewing = asyncio.create_task(self._keep_renewed(keys, ticket, lifetime_ms))
            yield TicketLock(conversation_id)
        finally:
            if renewing is not None:
                renewing.cancel()
            await self._release(keys, ticket, lifetime_ms)

    async def _keep_renewed(self, keys: tuple[str, ...], ticket: int, lifetime_ms: int) -> None:
        """Renews a held ticket while its turn runs. A turn can outlast the lifetime (an
        action server that hangs: Rasa waits up to 5 minutes for it), and a lock that
        expired under a running turn would let the next message of the conversation run
        beside it. An instance that dies stops renewing, and its ticket expires within
        one lifetime, and so does one whose turn hangs past LONGEST_TURN_S."""
        renew_every_s = lifetime_ms / 1000 / RENEWALS_PER_LIFETIME
        for _ in range(max(1, int(LONGEST_TURN_S / renew_every_s))):
            await asyncio.sleep(renew_every_s)
            try:
                if not await self._redis().eval(RENEW_SCRIPT, 3, *keys[:3], ticket, lifetime_ms):
                    logger.warning("lock store: a turn outlived its ticket")
                    return
            except Exception as error:  # Redis away: tried again at the next renewal
                logger.warning("lock store: could not renew a ticket (%s)", type(error).__name__)
        logger.error("lock store: a turn ran longer than %.0f s; its ticket is no longer "
                     "renewed, so the conversation's next turns can go ahead", LONGEST_TURN_S)

    async def _wait_for_turn(self, keys: tuple[str, ...], ticket: int,
                             longest_wait_s: float, lifetime_ms: int) -> None:
        from redis.exceptions import RedisError

        client = self._redis()
        try:
            while True:
                state, head_expires_in_ms = await client.eval(ACQUIRE_SCRIPT, 3, *keys[:3],
                                                              ticket, lifetime_ms)
                if state == 1:
                    return
                if state == -1:
                    raise LockError("the turn waited longer than the lock's lifetime")
                # BLPOP's timeout is in seconds and may be fractional (Redis 6+); never 0,
                # which would wait forever.
                timeout = max(0.01, min(longest_wait_s, head_expires_in_ms / 1000))
                await client.blpop(keys[3] + str(ticket), timeout=timeout)
        except RedisError as error:
            raise LockError(f"the lock store is unreachable ({type(error).__name__})") from error

    async def _release(self, keys: tuple[str, ...], ticket: int, lifetime_ms: int) -> None:
        from redis.exceptions import RedisError

        try:
            await self._redis().eval(RELEASE_SCRIPT, 4, *keys, ticket, lifetime_ms)
        except RedisError as error:
            # The ticket expires by itself; the next turn waits at most the lock's lifetime.
            logger.warning("lock store: could not release a ticket (%s)", type(error).__name__)

    async def held_tickets(self, conversation_id: str) -> list[int]:
        """The tickets queued for a conversation, head first (for tests and operators)."""
        queued = await self._redis().zrange(lock_keys(conversation_id)[1], 0, -1)
        return [int(ticket) for ticket in queued]
