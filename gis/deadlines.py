"""Statutory deadlines of cases as of a date (DISPOSAL.md §1, §5), vectorised over all cases.

A deadline of the rule file starts at a case's latest ``after`` event — from its date of service (送达日期,
the event date when none was recorded), its event date, or a date it carries (``field:new_start_date``) —
plus ``days``; a later ``until`` event meets it.  A review or suit (``review_or_suit`` …
``review_or_suit_closed``) pauses it: while pending the deadline does not run, and once closed it runs on,
extended by the days it was pending (as is a spell closed another way and reopened).  Only events dated on or
before the as-of date count.

>>> import pandas as pd
>>> ev = pd.DataFrame({"case_id": ["c"], "seq": [1], "event": ["survey_notice"],
...     "event_date": pd.to_datetime(["2026-03-01"]), "service_date": pd.to_datetime(["2026-03-03"]),
...     "data": [None]})
>>> d = case_deadlines(ev, "2026-04-10")
>>> d[["deadline_id", "due_date", "days_left"]].to_dict("records")  # 3 March + 30 days
[{'deadline_id': 'holder_answer', 'due_date': Timestamp('2026-04-02 00:00:00'), 'days_left': -8}]
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .disposal_rules import DisposalRules, default_disposal_rules

__all__ = ["case_deadlines", "pause_spells", "DEADLINE_COLUMNS"]

DEADLINE_COLUMNS = ["case_id", "deadline_id", "label", "citation", "after_event", "start_date", "due_date",
                    "paused_days", "paused", "met", "days_left"]


def lookup(keys: pd.Series, mapping: pd.Series) -> pd.Series:
    """``keys.map(mapping)`` for a uniquely indexed ``mapping`` of any dtype (pandas' ``map`` fails on an empty
    datetime mapping)."""
    return pd.Series(mapping.reindex(keys.to_numpy()).to_numpy(), index=keys.index, dtype=mapping.dtype
                     if len(mapping) else None)


def _as_of(as_of: Any) -> pd.Timestamp:
    return pd.Timestamp(pd.Timestamp(as_of).date())


def visible_events(events: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """The events dated on or before ``as_of`` (sorted by case and seq)."""
    ev = events.loc[pd.to_datetime(events["event_date"]) <= _as_of(as_of)]
    return ev.sort_values(["case_id", "seq"], kind="stable")


def pause_spells(events: pd.DataFrame, rules: DisposalRules) -> pd.DataFrame:
    """Spells during which a case's deadlines do not run: review/suit pending, or closed another way.

    One row per spell: ``case_id, start, end`` (``end`` NaT while still pending), in order."""
    p = rules.procedure
    pairs = ((p["pause"], p["resume"]), (p["close"], p["reopen"]))
    out = []
    for begin, end in pairs:
        ev = events.loc[events["event"].isin([begin, end]), ["case_id", "seq", "event", "event_date"]]
        if ev.empty:
            continue
        ev = ev.sort_values(["case_id", "seq"])
        # every begin is followed (within the case) by its end or nothing: the order check guarantees it
        nxt_case = ev["case_id"].shift(-1)
        nxt_event = ev["event"].shift(-1)
        nxt_date = ev["event_date"].shift(-1)
        starts = ev["event"] == begin
        closed = starts & (nxt_case == ev["case_id"]) & (nxt_event == end)
        spell = pd.DataFrame({"case_id": ev.loc[starts, "case_id"],
                              "start": pd.to_datetime(ev.loc[starts, "event_date"]),
                              "end": pd.to_datetime(nxt_date.where(closed)).loc[starts]})
        out.append(spell)
    if not out:
        return pd.DataFrame({"case_id": pd.Series(dtype=object), "start": pd.Series(dtype="datetime64[ms]"),
                             "end": pd.Series(dtype="datetime64[ms]")})
    return pd.concat(out).sort_values(["case_id", "start"], kind="stable").reset_index(drop=True)


def _data_dates(data: pd.Series, name: str) -> pd.Series:
    return pd.to_datetime(pd.Series([d.get(name) if isinstance(d, dict) else None for d in data], index=data.index))


def case_deadlines(events: pd.DataFrame, as_of: Any, *, rules: DisposalRules | None = None) -> pd.DataFrame:
    """Every deadline started in the cases' events as of ``as_of``: its due date (extended by pauses),
    whether it is met, paused now, and the days left (negative: overdue).

    ``events`` needs ``case_id, seq, event, event_date, service_date, data`` (:func:`gis.cases.read_events`).
    """
    rules = rules or default_disposal_rules()
    at = _as_of(as_of)
    ev = visible_events(events, at)
    spells = pause_spells(ev, rules)
    rows = []
    for d in rules.deadlines:
        if d.days is None:
            continue
        trig = ev.loc[ev["event"] == d.after].drop_duplicates("case_id", keep="last")
        if trig.empty:
            continue
        if d.start == "service_date":
            start = pd.to_datetime(trig["service_date"]).fillna(pd.to_datetime(trig["event_date"]))
        elif d.start == "event_date":
            start = pd.to_datetime(trig["event_date"])
        else:
            start = _data_dates(trig["data"], d.start.removeprefix("field:"))
        frame = pd.DataFrame({"case_id": trig["case_id"].to_numpy(), "trig_seq": trig["seq"].to_numpy(),
                              "start_date": start.to_numpy()})
        frame = frame.loc[frame["start_date"].notna()]
        until = ev.loc[ev["event"] == d.until, ["case_id", "seq"]].groupby("case_id")["seq"].max()
        frame["met"] = (frame["case_id"].map(until).astype("float") > frame["trig_seq"].astype(float)).fillna(False)
        due = frame["start_date"] + pd.to_timedelta(d.days, unit="D")
        # pauses: a spell beginning on or after the start and on or before the (extended) due date extends it
        paused = pd.Series(False, index=frame.index)
        extra = pd.Series(0, index=frame.index, dtype="int64")
        if not spells.empty:
            sp = spells.merge(frame[["case_id", "start_date"]].reset_index(), on="case_id")
            sp = sp.loc[sp["start"] >= sp["start_date"]].sort_values(["index", "start"])
            sp["rank"] = sp.groupby("index").cumcount()
            for _, block in sp.groupby("rank", sort=True):
                idx = block["index"].to_numpy()
                cur_due = due.loc[idx].to_numpy() + extra.loc[idx].to_numpy().astype("timedelta64[D]")
                inside = block["start"].to_numpy() <= cur_due
                pending = block["end"].isna().to_numpy() | (block["end"].to_numpy() > at.to_datetime64())
                ends = np.where(pending, at.to_datetime64(), block["end"].to_numpy())
                length = ((ends - block["start"].to_numpy()) / np.timedelta64(1, "D")).astype("int64")
                extra.loc[idx[inside]] += length[inside]
                paused.loc[idx[inside & pending]] = True
        due = due + pd.to_timedelta(extra, unit="D")
        rows.append(pd.DataFrame({
            "case_id": frame["case_id"], "deadline_id": d.id, "label": d.label, "citation": d.citation,
            "after_event": d.after, "start_date": frame["start_date"], "due_date": due, "paused_days": extra,
            "paused": paused, "met": frame["met"].astype(bool),
            "days_left": ((due - at) / pd.Timedelta(days=1)).astype("int64")}))
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DEADLINE_COLUMNS})
    return pd.concat(rows, ignore_index=True)[DEADLINE_COLUMNS]
