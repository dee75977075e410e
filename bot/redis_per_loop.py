"""A redis.asyncio client for whichever event loop is running.

redis.asyncio connections belong to the loop that opened them: Rasa's server runs one loop,
but the tests (and `rasa shell`) run several in turn, and a client reused across loops fails
with "attached to a different loop". Each holder below opens one client per loop, lazily,
and drops it when asked (after a failure its sockets may be half-open).
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis


class RedisPerLoop:
    """One client, with the given redis-py options, for the event loop now running."""

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self._options = options
        self._client: Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> Redis:
        from redis.asyncio import Redis

        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = Redis.from_url(self.url, **self._options)
            self._loop = loop
        return self._client

    async def discard(self) -> None:
        """Closes and forgets the client: the next call to client() opens a fresh one."""
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            try:
                await client.close(close_connection_pool=True)
            except Exception:  # closing a client whose server is gone
                pass
