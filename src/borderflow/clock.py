"""The one clock. Every service takes "now" from a `Clock`, never from the system directly.

Production uses `SystemClock`; tests use `FixedClock` or `SteppedClock`; the demo runs an
`AcceleratedClock` (a day in minutes); the simulation keeps its own virtual time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from borderflow.errors import NaiveDatetimeError


def require_aware(value: datetime, name: str = "datetime") -> datetime:
    """Return `value` in UTC; refuse a naive datetime (it names no instant)."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetimeError(
            f"{name} {value.isoformat()} has no time zone; give an offset such as +07:00",
            field=name,
        )
    return value.astimezone(UTC)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """Always the same instant; `set` and `advance` move it (tests)."""

    def __init__(self, at: datetime) -> None:
        self._at = require_aware(at, "at")

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = require_aware(at, "at")

    def advance(self, delta: timedelta) -> datetime:
        self._at += delta
        return self._at


class SteppedClock(FixedClock):
    """Moves forward by `step` each time it is read."""

    def __init__(self, at: datetime, step: timedelta) -> None:
        super().__init__(at)
        self._step = step

    def now(self) -> datetime:
        current = self._at
        self._at += self._step
        return current


class AcceleratedClock:
    """Virtual time starting at `start`, running `factor` times faster than the wall clock."""

    def __init__(self, start: datetime, factor: float) -> None:
        if factor <= 0:
            raise ValueError("factor must be positive")
        self._start = require_aware(start, "start")
        self._factor = factor
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        elapsed = time.monotonic() - self._t0
        return self._start + timedelta(seconds=elapsed * self._factor)
