"""Per-user rate limits on the XBlock's handlers.

Every call the XBlock makes reaches the orchestrator with the LMS's one service token, so a
learner in a loop (or a page gone wrong) could spend the token's limit for everyone. Each user
gets a small budget per minute instead; past it, the handler answers 429 "slow down" without
calling the API.

The counts live in Django's cache when the LMS has one (shared by every LMS process and
server), else in this process. The window is a sliding one (a weighted sum of this minute's
and the last minute's counts), so a loop cannot burst twice the limit across a minute's edge;
its counters are plain atomic increments, which memcached and Redis caches do across processes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable, Dict, Optional, Protocol, Tuple

log = logging.getLogger(__name__)

WINDOW_S = 60
KEY_PREFIX = "openedx-lab-xblock:rate"


class Counters(Protocol):
    def get(self, key: str) -> int: ...

    def incr(self, key: str, ttl: int) -> int: ...

    def decr(self, key: str) -> None: ...


class LocalCounters:
    """This process's counters: what a single-process LMS (or one without a cache) uses."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._lock = threading.Lock()
        self._counts: Dict[str, Tuple[int, float]] = {}
        self._clock = clock

    def get(self, key: str) -> int:
        with self._lock:
            count, expires = self._counts.get(key, (0, 0.0))
            return count if expires > self._clock() else 0

    def incr(self, key: str, ttl: int) -> int:
        now = self._clock()
        with self._lock:
            if len(self._counts) > 10_000:  # every key lives two windows: drop the dead ones
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            count, expires = self._counts.get(key, (0, 0.0))
            if expires <= now:
                count, expires = 0, now + ttl
            self._counts[key] = (count + 1, expires)
            return count + 1

    def decr(self, key: str) -> None:
        with self._lock:
            count, expires = self._counts.get(key, (0, 0.0))
            if count > 0:
                self._counts[key] = (count - 1, expires)

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


class DjangoCounters:
    """Counters in a Django cache (the LMS's `default` cache)."""

    def __init__(self, cache: Any):
        self._cache = cache

    def get(self, key: str) -> int:
        return int(self._cache.get(key) or 0)

    def incr(self, key: str, ttl: int) -> int:
        self._cache.add(key, 0, ttl)
        try:
            return int(self._cache.incr(key))
        except ValueError:  # evicted between add and incr
            self._cache.set(key, 1, ttl)
            return 1

    def decr(self, key: str) -> None:
        try:
            self._cache.decr(key)
        except ValueError:
            pass


LOCAL = LocalCounters()


def shared_counters() -> Counters:
    """Django's cache when Django is set up with a real one, else this process's counters."""
    try:
        from django.conf import settings

        if not settings.configured:
            return LOCAL
        from django.core.cache import cache
        from django.core.cache.backends.dummy import DummyCache
    except Exception:  # no Django, or one that cannot give a cache: count here
        return LOCAL
    if isinstance(cache, DummyCache):  # counts nothing: it would never limit
        return LOCAL
    return DjangoCounters(cache)


class Throttle:
    """At most `per_minute` calls of one kind per user over any minute (sliding window)."""

    def __init__(
        self,
        kind: str,
        per_minute: int,
        counters: Optional[Counters] = None,
        clock: Callable[[], float] = time.time,
    ):
        self.kind = kind
        self.limit = max(1, int(per_minute))
        self.counters = counters if counters is not None else shared_counters()
        self.clock = clock

    def take(self, who: str) -> Optional[int]:
        """Counts one call of `who`: None to go ahead, else the seconds to wait first.

        A cache that fails lets the call through: a limit must never take the unit down.
        """
        now = self.clock()
        window = int(now // WINDOW_S)
        elapsed = (now - window * WINDOW_S) / WINDOW_S
        key = f"{KEY_PREFIX}:{self.kind}:{who}"
        try:
            previous = self.counters.get(f"{key}:{window - 1}")
            current = self.counters.incr(f"{key}:{window}", 2 * WINDOW_S)
            if previous * (1 - elapsed) + current <= self.limit:
                return None
            self.counters.decr(f"{key}:{window}")  # a refused call does not count
        except Exception:
            log.warning("rate limit counters unavailable; letting the call through", exc_info=True)
            return None
        return self._wait(previous, current - 1, elapsed)

    def _wait(self, previous: int, current: int, elapsed: float) -> int:
        """Seconds until one more call fits, if nobody calls meanwhile."""
        room = self.limit - 1  # what the other calls may weigh for one more to fit
        if current <= room and previous > 0:
            # This window: the last window's weight falls to `room - current`.
            fraction = 1 - (room - current) / previous
            seconds = (fraction - elapsed) * WINDOW_S
        else:
            # The next window, where this window's count is the one that fades.
            fraction = 1 - room / current if current > 0 else 0
            seconds = (1 - elapsed + max(0.0, fraction)) * WINDOW_S
        return max(1, math.ceil(seconds))
