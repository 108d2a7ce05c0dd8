"""Throttling and lockout of sign-ins, and idle session expiry — pure decisions on the login events.

Per **user name** (whether or not the name exists, so a lock tells nothing about which names do) and per
**client address**: ``max_failures`` failed attempts within ``window`` lock the name (``client_max_failures``
the address) for ``lockout``.  A success clears the name's count (not the address's).  Attempts while locked
are refused without a password check and recorded as ``locked``; they neither count nor extend the lock.
The clock is a parameter (``now``), so the tests check a 15-minute lock without waiting for it.

>>> import datetime as dt
>>> t0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.timezone.utc)
>>> fails = [{"at": t0 + dt.timedelta(minutes=i), "outcome": "failure"} for i in range(5)]
>>> locked_until(fails, now=t0 + dt.timedelta(minutes=5), max_failures=5, window=dt.timedelta(minutes=15),
...              lockout=dt.timedelta(minutes=15)).strftime("%H:%M")
'08:19'
>>> locked_until(fails, now=t0 + dt.timedelta(minutes=19), max_failures=5, window=dt.timedelta(minutes=15),
...              lockout=dt.timedelta(minutes=15)) is None
True
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FAILURES", "Lock", "locked_until", "lock_for", "session_expired"]

#: outcomes that count as a failed attempt
FAILURES = frozenset({"failure", "disabled"})


@dataclass(frozen=True)
class Lock:
    """A refused attempt: who is locked (``"user"`` or ``"client"``) and until when (UTC)."""

    scope: str
    until: dt.datetime

    def minutes_left(self, now: dt.datetime) -> int:
        return max(1, -(-int((self.until - now).total_seconds()) // 60))


def locked_until(
    events: Iterable[Mapping[str, Any]],
    *,
    now: dt.datetime,
    max_failures: int,
    window: dt.timedelta,
    lockout: dt.timedelta,
    success_resets: bool = True,
) -> dt.datetime | None:
    """When the lock made by ``events`` (any order) ends, or None when not locked at ``now``."""
    recent: deque[dt.datetime] = deque()
    lock_end: dt.datetime | None = None
    for e in sorted(events, key=lambda e: e["at"]):
        at, outcome = e["at"], e["outcome"]
        if at > now:
            continue
        if lock_end is not None and at >= lock_end:  # a new count starts after a lock
            lock_end = None
            recent.clear()
        if outcome == "success" and success_resets:
            recent.clear()
            lock_end = None
        elif outcome in FAILURES and lock_end is None:
            recent.append(at)
            while recent and recent[0] <= at - window:
                recent.popleft()
            if len(recent) >= max_failures:
                lock_end = at + lockout
                recent.clear()
    return lock_end if lock_end is not None and now < lock_end else None


def lock_for(store, user_name: str, client: str, *, now: dt.datetime, settings) -> Lock | None:
    """The lock on a user name or client address at ``now`` (the name's first), from the store's events."""
    from .store.accounts import login_events

    since = now - 2 * (settings.window + settings.lockout)
    by_user = login_events(store, user_name=user_name, since=since)
    until = locked_until(
        by_user, now=now, max_failures=settings.max_failures, window=settings.window, lockout=settings.lockout
    )
    if until is not None:
        return Lock("user", until)
    by_client = login_events(store, client=client, since=since)
    until = locked_until(
        by_client,
        now=now,
        max_failures=settings.client_max_failures,
        window=settings.window,
        lockout=settings.lockout,
        success_resets=False,
    )
    return Lock("client", until) if until is not None else None


def session_expired(last_seen: dt.datetime | None, *, now: dt.datetime, idle: dt.timedelta) -> bool:
    """Whether a session last active at ``last_seen`` has been idle longer than ``idle``."""
    return last_seen is None or now - last_seen > idle
