"""Work that outlives the reply that started it.

asyncio keeps only a weak reference to a task: one nobody holds can be garbage-collected
half-way through (a staff text between two Twilio retries). A BackgroundTasks set holds
each task until it ends, and lets tests and a clean shutdown wait for all of them.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

logger = logging.getLogger(__name__)

# What a stopping server waits at most for work still running (Kubernetes allows 70 s before
# it kills the pod; the server's own connection drain follows).
STOPPING_WAIT_S = 30.0


class BackgroundTasks:
    def __init__(self) -> None:
        self._running: set[asyncio.Future] = set()

    def start(self, work: Awaitable[Any],
              when_done: Callable[[asyncio.Future], None] | None = None) -> asyncio.Future:
        """Runs `work` on the running loop, held until it ends; `when_done` gets the task."""
        task = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        if when_done is not None:
            task.add_done_callback(when_done)
        return task

    async def settled(self) -> None:
        """Waits for every task started so far, and for any they start in turn."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)


async def settle_before_stopping(*settling: Callable[[], Awaitable[None]],
                                 within_s: float = STOPPING_WAIT_S) -> None:
    """Waits, at most `within_s`, for each `settled` given: a staff text or a handoff move
    still running when the server is told to stop (a deploy, the autoscaler removing a pod)
    is finished, not dropped with the loop."""
    try:
        await asyncio.wait_for(asyncio.gather(*(settled() for settled in settling)), within_s)
    except asyncio.TimeoutError:
        logger.error("stopping with background work still running after %.0f s", within_s)
