"""Statutory deadlines of cases as of a date (docs/disposal.md §1, §5), vectorised over all cases.

A deadline of the rule file starts at a case's latest ``after`` event — from its date of service (送达日期,
the event date when none was recorded), its event date, or a date it carries (``field:new_start_date``) —
plus ``days``; a later ``until`` event meets it.  A review or suit (``review_or_suit`` …
``review_or_suit_closed``) pauses it: while pending the deadline does not run, and once closed it runs on,
extended by the days it was pending (as is a spell closed another way and reopened).  Only events dated on or
before the as-of date count.

Internally the events are turned once into integer arrays (:func:`prepare`: case codes, event codes, days),
so 10^4 cases x 8 events take tens of milliseconds.

>>> import pandas as pd
>>> ev = pd.DataFrame({"case_id": ["c"], "seq": [1], "event": ["survey_notice"],
...     "event_date": pd.to_datetime(["2026-03-01"]), "service_date": pd.to_datetime(["2026-03-03"]),
...     "data": [None]})
>>> d = case_deadlines(ev, "2026-04-10")
>>> d[["deadline_id", "due_date", "days_left"]].to_dict("records")  # 3 March + 30 days
[{'deadline_id': 'holder_answer', 'due_date': Timestamp('2026-04-02 00:00:00'), 'days_left': -8}]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .disposal_rules import DisposalRules, default_disposal_rules

__all__ = [
    "case_deadlines",
    "pause_spells",
    "prepare",
    "Prepared",
    "lookup",
    "joint_codes",
    "str_isin",
    "visible_events",
    "DEADLINE_COLUMNS",
]

DEADLINE_COLUMNS = [
    "case_id",
    "deadline_id",
    "label",
    "citation",
    "after_event",
    "start_date",
    "due_date",
    "paused_days",
    "paused",
    "met",
    "days_left",
]
_NAT = np.iinfo(np.int64).min


def lookup(keys: pd.Series, mapping: pd.Series) -> pd.Series:
    """``keys.map(mapping)`` for a uniquely indexed ``mapping`` of any dtype (pandas' ``map`` fails on an empty
    datetime mapping)."""
    return pd.Series(
        mapping.reindex(keys.to_numpy()).to_numpy(), index=keys.index, dtype=mapping.dtype if len(mapping) else None
    )


def joint_codes(*columns: Any) -> tuple[list[np.ndarray], np.ndarray]:
    """Integer codes of several string columns over their union (one ``factorize``: fast where ``isin`` and
    ``merge`` on pandas' string dtype are slow), and the union's values."""
    lengths = [len(c) for c in columns]
    codes, uniques = pd.factorize(
        np.concatenate(
            [c.to_numpy(dtype=object) if isinstance(c, pd.Series) else np.asarray(c, dtype=object) for c in columns]
        )
    )
    out, start = [], 0
    for n in lengths:
        out.append(codes[start : start + n])
        start += n
    return out, np.asarray(uniques, dtype=object)


def str_isin(values: Any, among: Any) -> np.ndarray:
    """``values.isin(among)`` for string columns, through :func:`joint_codes`."""
    (a, b), _ = joint_codes(values, among)
    return np.isin(a, b)


def _as_of(as_of: Any) -> pd.Timestamp:
    return pd.Timestamp(pd.Timestamp(as_of).date())


def _days(values: Any) -> np.ndarray:
    """Dates -> int64 days since the epoch (NaT -> a sentinel)."""
    arr = pd.to_datetime(pd.Series(values)).to_numpy().astype("datetime64[D]").astype(np.int64)
    return arr


def visible_events(events: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """The events dated on or before ``as_of`` (sorted by case and seq)."""
    ev = events.loc[pd.to_datetime(events["event_date"]) <= _as_of(as_of)]
    return ev.sort_values(["case_id", "seq"], kind="stable")


@dataclass
class Prepared:
    """The events dated on or before ``at`` as arrays sorted by (case, seq)."""

    at: int  # as-of day (days since epoch)
    case_ids: np.ndarray  # code -> case_id
    cid: np.ndarray  # case code per event
    seq: np.ndarray
    code: np.ndarray  # event code (index into codes)
    codes: list[str]
    day: np.ndarray  # event date (days)
    served: np.ndarray  # service date (days) or _NAT
    data: np.ndarray  # the events' data dicts (object)

    def is_(self, *events: str) -> np.ndarray:
        wanted = [self.codes.index(e) for e in events if e in self.codes]
        return np.isin(self.code, wanted)

    def last_seq(self, mask: np.ndarray) -> np.ndarray:
        """Per case code, the largest seq where ``mask`` (-1 when none)."""
        out = np.full(len(self.case_ids), -1, dtype=np.int64)
        np.maximum.at(out, self.cid[mask], self.seq[mask])
        return out

    def last_pos(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(case codes, positions) of the last event where ``mask``, per case that has one."""
        pos = np.flatnonzero(mask)
        if not len(pos):
            return pos, pos
        c = self.cid[pos]
        last = np.r_[c[1:] != c[:-1], True]  # sorted by case then seq: the last of each run
        return c[last], pos[last]


def prepare(events: pd.DataFrame, as_of: Any, rules: DisposalRules) -> Prepared:
    """Turn the events dated on or before ``as_of`` into sorted integer arrays."""
    at = int(np.datetime64(_as_of(as_of).date(), "D").astype(np.int64))
    day = _days(events["event_date"]) if len(events) else np.zeros(0, np.int64)
    keep = (day <= at) & (day != _NAT)
    cid, case_ids = pd.factorize(
        events["case_id"].reset_index(drop=True)[keep] if len(events) else np.array([], object)
    )
    seq = events["seq"].to_numpy()[keep].astype(np.int64) if len(events) else np.zeros(0, np.int64)
    codes = list(rules.events)
    if len(events):
        ev_codes, ev_names = pd.factorize(events["event"].reset_index(drop=True)[keep])
        code = pd.Index(codes).get_indexer(np.asarray(ev_names, dtype=object))[ev_codes]
    else:
        code = np.zeros(0, np.int64)
    order = np.lexsort((seq, cid))
    served = _days(events["service_date"])[keep] if len(events) else np.zeros(0, np.int64)
    data = events["data"].to_numpy()[keep] if len(events) else np.zeros(0, object)
    return Prepared(
        at,
        np.asarray(case_ids, dtype=object),
        cid[order].astype(np.int64),
        seq[order],
        code[order],
        codes,
        day[keep][order],
        served[order],
        data[order],
    )


def _spells(pp: Prepared, rules: DisposalRules) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(case code, start day, end day or _NAT) of every pause spell, sorted by case and start."""
    p = rules.procedure
    cs, ss, es = [], [], []
    for begin, end in ((p["pause"], p["resume"]), (p["close"], p["reopen"])):
        mask = pp.is_(begin, end)
        pos = np.flatnonzero(mask)
        if not len(pos):
            continue
        is_begin = pp.code[pos] == pp.codes.index(begin)
        nxt = np.r_[pos[1:], -1]
        closed = is_begin & (np.r_[pp.cid[pos][1:], -1] == pp.cid[pos]) & (np.r_[~is_begin[1:], False])
        b = pos[is_begin]
        cs.append(pp.cid[b])
        ss.append(pp.day[b])
        es.append(np.where(closed[is_begin], pp.day[np.where(closed, nxt, 0)][is_begin], _NAT))
    if not cs:
        z = np.zeros(0, np.int64)
        return z, z, z
    c, s, e = np.concatenate(cs), np.concatenate(ss), np.concatenate(es)
    order = np.lexsort((s, c))
    return c[order], s[order], e[order]


def pause_spells(events: pd.DataFrame, rules: DisposalRules | None = None, *, as_of: Any = None) -> pd.DataFrame:
    """Spells during which a case's deadlines do not run: review/suit pending, or closed another way.

    One row per spell: ``case_id, start, end`` (``end`` NaT while still pending), in order."""
    rules = rules or default_disposal_rules()
    pp = prepare(events, as_of if as_of is not None else "2262-01-01", rules)
    c, s, e = _spells(pp, rules)

    def to_ts(d):
        return pd.to_datetime(
            np.where(
                d == _NAT,
                np.datetime64("NaT"),
                d.astype("datetime64[D]"),
            ).astype("datetime64[ms]")
        )

    return pd.DataFrame(
        {"case_id": pp.case_ids[c] if len(c) else np.array([], object), "start": to_ts(s), "end": to_ts(e)}
    )


def deadline_arrays(pp: Prepared, rules: DisposalRules) -> dict[str, np.ndarray]:
    """Every deadline started as arrays: case code, deadline index, start, due (extended), paused days,
    paused now, met."""
    sc, ss, se = _spells(pp, rules)
    out: dict[str, list] = {k: [] for k in ("cid", "k", "start", "due", "extra", "paused", "met")}
    for k, d in enumerate(rules.deadlines):
        if d.days is None or d.after not in pp.codes:
            continue
        c, pos = pp.last_pos(pp.is_(d.after))
        if not len(c):
            continue
        if d.start == "service_date":
            start = np.where(pp.served[pos] != _NAT, pp.served[pos], pp.day[pos])
        elif d.start == "event_date":
            start = pp.day[pos]
        else:
            name = d.start.removeprefix("field:")
            vals = [x.get(name) if isinstance(x, dict) else None for x in pp.data[pos]]
            start = _days(vals)
        ok = start != _NAT
        c, pos, start = c[ok], pos[ok], start[ok]
        met = pp.last_seq(pp.is_(d.until))[c] > pp.seq[pos]
        due = start + d.days
        extra = np.zeros(len(c), np.int64)
        paused = np.zeros(len(c), bool)
        if len(sc):
            # spells of each deadline's case, in order: (row, spell) pairs via searchsorted on the sorted codes
            lo, hi = np.searchsorted(sc, c, "left"), np.searchsorted(sc, c, "right")
            rank = 0
            while True:
                idx = np.flatnonzero(lo + rank < hi)
                if not len(idx):
                    break
                j = lo[idx] + rank
                b, e = ss[j], se[j]
                pending = (e == _NAT) | (e > pp.at)
                length = np.where(pending, pp.at, e) - b
                inside = (b >= start[idx]) & (b <= due[idx] + extra[idx])
                extra[idx[inside]] += length[inside]
                paused[idx[inside & pending]] = True
                rank += 1
        for key, val in (
            ("cid", c),
            ("k", np.full(len(c), k)),
            ("start", start),
            ("due", due + extra),
            ("extra", extra),
            ("paused", paused),
            ("met", met),
        ):
            out[key].append(val)
    return {
        k: (np.concatenate(v) if v else np.zeros(0, bool if k in ("paused", "met") else np.int64))
        for k, v in out.items()
    }


def _ts(days: np.ndarray) -> pd.Series:
    return pd.Series(days.astype("datetime64[D]").astype("datetime64[ms]"))


def case_deadlines(events: pd.DataFrame, as_of: Any, *, rules: DisposalRules | None = None) -> pd.DataFrame:
    """Every deadline started in the cases' events as of ``as_of``: its due date (extended by pauses),
    whether it is met, paused now, and the days left (negative: overdue).

    ``events`` needs ``case_id, seq, event, event_date, service_date, data`` (:func:`gis.cases.read_events`).
    """
    rules = rules or default_disposal_rules()
    pp = prepare(events, as_of, rules)
    a = deadline_arrays(pp, rules)
    dls = rules.deadlines
    return pd.DataFrame(
        {
            "case_id": pp.case_ids[a["cid"]] if len(a["cid"]) else np.array([], object),
            "deadline_id": np.array([dls[k].id for k in a["k"]], dtype=object),
            "label": np.array([dls[k].label for k in a["k"]], dtype=object),
            "citation": np.array([dls[k].citation for k in a["k"]], dtype=object),
            "after_event": np.array([dls[k].after for k in a["k"]], dtype=object),
            "start_date": _ts(a["start"]),
            "due_date": _ts(a["due"]),
            "paused_days": a["extra"],
            "paused": a["paused"],
            "met": a["met"],
            "days_left": a["due"] - pp.at,
        }
    )[DEADLINE_COLUMNS]
