"""Threads for tests of what runs at the same time (delivery runs, follow-up runs)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def at_once(fn: Callable[[], T], n: int) -> list[T]:
    """`fn` run by `n` threads started together; what each returned. What any thread raised
    fails the test here: a thread must not hide a failure."""
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(fn())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results
