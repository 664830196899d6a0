"""Rate limits on the forms that mail someone (sign-in, subscribe): per client and per
address, in one process's memory."""

from __future__ import annotations

import threading
import time
from collections import deque

from fastapi import Request

from tindak.errors import TindakError


class TooManyRequests(TindakError):
    http_status = 429


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def within_limits(request: Request, per_ip: RateLimiter, per_email: RateLimiter, email: str,
                  refusal: str) -> None:
    """Count one hit of this client, then (only when it is within its limit) of `email`;
    TooManyRequests with `refusal` (a msgid) when either is over its limit."""
    if not (per_ip.hit(client_ip(request)) and per_email.hit(email)):
        raise TooManyRequests(refusal)


class RateLimiter:
    """At most `limit` hits per key in a sliding `window` of seconds (one process's memory)."""

    def __init__(self, limit: int, window: float):
        self.limit, self.window = limit, window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> bool:
        """Count one hit; False when the key is over its limit (the hit is not counted)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            if len(self._hits) > 50_000:  # forget idle keys so memory stays bounded
                for k in [k for k, v in self._hits.items() if not v]:
                    del self._hits[k]
            return True
