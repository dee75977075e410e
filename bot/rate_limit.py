"""How many messages a key (a conversation, a client address) may send per window.

Plain Python and in-process: enough for one server on embedded defaults. Counts are kept
per key as the times of recent messages (a sliding window, so a burst at the edge of a
minute cannot double the allowance), and the number of keys is bounded so a flood of new
addresses cannot grow memory without limit.
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from typing import Callable


class SlidingWindowLimiter:
    def __init__(self, limit: int, window_s: float = 60.0, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window_s = window_s
        self._max_keys = max_keys
        self._clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, key: str, count: bool = True) -> int | None:
        """Counts one message for `key`; None when allowed, else whole seconds to wait.

        A refused message is not counted, so waiting the time given is always enough.
        With count=False it only looks (for limits on failures, counted afterwards).
        A limit of 0 or less turns the limiter off.
        """
        if self.limit <= 0:
            return None
        now = self._clock()
        with self._lock:
            hits = self._hits.pop(key, None) or deque()
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            self._hits[key] = hits  # most recently used last
            if len(hits) >= self.limit:
                return max(1, math.ceil(hits[0] + self.window_s - now))
            if count:
                hits.append(now)
            while len(self._hits) > self._max_keys:
                self._hits.popitem(last=False)
            return None

    def refund(self, key: str) -> None:
        """Takes back the latest counted message of `key` (one that turned out not to count)."""
        with self._lock:
            hits = self._hits.get(key)
            if hits:
                hits.pop()
