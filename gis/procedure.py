"""The order of a case's events (docs/disposal.md §1): which event may come next, and why another may not.

Pure functions over the rule file's sequences (:mod:`gis.disposal_rules`) and a case's events so far.  Besides
the route's sequence (with optional groups such as the hearing), any open case may be paused by a review or
suit (``review_or_suit`` … ``review_or_suit_closed``), closed another way (``closed_other``, then only
``reopened``), and a drafted plan may be returned (``plan_returned``: drafting again).  ``completed`` ends it.

>>> from gis.disposal_rules import default_disposal_rules
>>> r = default_disposal_rules()
>>> next_events(r, "continue", "extend_start", [])
['survey_notice', 'closed_other']
>>> next_events(r, "continue", "continue_with_fee", ["survey_notice", "holder_response", "idle_determination",
...     "public_notice", "plan_drafted", "plan_approved"])[:2]
['hearing_requested', 'fee_decision']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .disposal_rules import DisposalRules
from .errors import LandRenewError
from .schema import get_layer

__all__ = ["CaseState", "replay", "next_events", "check_next", "OrderError"]


class OrderError(LandRenewError):
    """An event out of the procedure's order (the message names the allowed next events)."""


@dataclass
class CaseState:
    """Where a case stands after its events."""

    pos: int = 0  # index of the next step of the sequence
    inner: int = 0  # index within an optional group already begun
    pending: bool = False  # a review or suit is pending
    closed: bool = False  # closed another way (closed_other)
    completed: bool = False
    last: str | None = None  # the last event (the case state)


def _candidates(rules: DisposalRules, route: str, sub_route: str, st: CaseState) -> list[tuple[str, int, int]]:
    """(event, new pos, new inner) for each sequence event allowed next."""
    steps = rules.steps(route, sub_route)
    if st.inner:
        step = steps[st.pos]
        nxt = st.inner + 1
        return [
            (
                step.events[st.inner],
                st.pos if nxt < len(step.events) else st.pos + 1,
                nxt if nxt < len(step.events) else 0,
            )
        ]
    out = []
    for i in range(st.pos, len(steps)):
        step = steps[i]
        more = len(step.events) > 1
        out.append((step.events[0], i if more else i + 1, 1 if more else 0))
        if not step.optional:
            break
    return out


def _apply(rules: DisposalRules, route: str, sub_route: str, st: CaseState, event: str) -> bool:
    """Advance ``st`` by ``event``; False when the event is not allowed there."""
    p = rules.procedure
    if st.completed:
        return False
    if st.closed:
        if event != p["reopen"]:
            return False
        st.closed = False
    elif event == p["close"]:
        st.closed = True
    elif event == p["pause"]:
        if st.pending or st.last is None:
            return False
        st.pending = True
    elif event == p["resume"]:
        if not st.pending:
            return False
        st.pending = False
    elif event == p["return"]:
        cands = [c[0] for c in _candidates(rules, route, sub_route, st)]
        if p["approve"] not in cands:
            return False
        steps = rules.steps(route, sub_route)
        st.pos = next(i for i, s in enumerate(steps) if p["draft"] in s.events)
        st.inner = 0
    else:
        for code, pos, inner in _candidates(rules, route, sub_route, st):
            if code == event:
                st.pos, st.inner = pos, inner
                break
        else:
            return False
        if event == p["complete"]:
            st.completed = True
    st.last = event
    return True


def replay(rules: DisposalRules, route: str, sub_route: str, events: Sequence[str]) -> CaseState:
    """The state after a case's events (in their order); raises :class:`OrderError` on a stored event out of order."""
    st = CaseState()
    for i, event in enumerate(events):
        if not _apply(rules, route, sub_route, st, event):
            raise OrderError(
                f"案件第 {i + 1} 个事项“{rules.events.get(event, {}).get('label', event)}”不符合处置程序",
                detail=f"stored event {event!r} out of order at {i}",
            )
    return st


def next_events(rules: DisposalRules, route: str, sub_route: str, events: Sequence[str]) -> list[str]:
    """The events allowed next, sequence events first, then return / pause / resume / close / reopen."""
    st = replay(rules, route, sub_route, events)
    p = rules.procedure
    if st.completed:
        return []
    if st.closed:
        return [p["reopen"]]
    out = [c[0] for c in _candidates(rules, route, sub_route, st)]
    if p["approve"] in out:
        out.append(p["return"])
    if st.pending:
        out.append(p["resume"])
    elif st.last is not None:
        out.append(p["pause"])
    out.append(p["close"])
    return out


def check_next(rules: DisposalRules, route: str, sub_route: str, events: Sequence[str], event: str) -> None:
    """Raise :class:`OrderError` with the reason when ``event`` may not follow ``events``."""
    if event not in rules.events:
        raise OrderError(
            f"未知事项“{event}”",
            detail=f"unknown event {event!r}",
            fix="可选：" + "、".join(f"{c}（{s['label']}）" for c, s in rules.events.items()),
        )
    allowed = next_events(rules, route, sub_route, events)
    if event in allowed:
        return
    label = rules.label
    layer = get_layer("idle_assessment")
    sub_label = f"{layer.field('route').label_of(route)}/{layer.field('sub_route').label_of(sub_route)}"
    after = f"在“{label(events[-1])}”之后" if events else "作为第一个事项"
    if not allowed:
        why = "案件已处置完成，不能再登记事项"
        fix = "如需继续处置，请新开案件"
    else:
        why = f"按“{sub_label}”程序，下一步应为：{'、'.join(label(a) for a in allowed)}"
        fix = f"先登记{label(allowed[0])}" if allowed[0] != rules.procedure["reopen"] else "先登记重新开启（说明原因）"
    raise OrderError(
        f"事项“{label(event)}”不能{after}登记：{why}",
        detail=f"event {event!r} not allowed after {list(events)[-1:]} for {route}/{sub_route}; allowed {allowed}",
        fix=fix,
    )
