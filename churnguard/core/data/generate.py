"""Generate a realistic sample data directory: customers who buy, engage, complain and drop out.

A latent dropout process is simulated month by month (vectorised over customers); poor service,
NPS detractor answers and a low loyalty tier raise the hazard. Purchases and engagement are then
drawn per customer as seasonal Poisson processes that fade over the 60-90 days before the dropout.
Times are integer seconds since ``start`` internally and written as ``timestamp[us, UTC]``.

A known save effect can be planted on a past risk list (:class:`PlantedSave`): the world is drawn as
without it, then a share of the outreach group's would-be churners stays, and ``contacts.parquet``
records the outreach. Measuring outcomes must then recover that effect.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from churnguard.core.data.plant import (
    CONTACT_CHANNELS,
    CONTACT_OUTCOMES,
    PlantedSave,
    contact_days,
    draw_contacts,
)
from churnguard.core.errors import BadInputError

DAY = 86_400
REGIONS, REGION_P = ("North", "South", "East", "West", "Central"), (0.22, 0.2, 0.18, 0.25, 0.15)
CHANNELS, CHANNEL_P = ("web", "app", "store", "marketplace"), (0.45, 0.3, 0.15, 0.1)
TIERS, TIER_P = ("standard", "silver", "gold", "vip"), (0.58, 0.24, 0.13, 0.05)
EVENT_TYPES = ("login", "email_open", "email_click", "support_ticket", "complaint", "nps_response")
PLANS, PLAN_MRR = ("basic", "plus", "premium"), np.array([9.99, 19.99, 39.99])
# Per tier: purchase-rate and basket multipliers, dropout hazard multiplier, subscription share.
TIER_BUY, TIER_BASKET = np.array([0.85, 1.0, 1.3, 1.8]), np.array([0.9, 1.0, 1.25, 1.9])
TIER_HAZARD, TIER_SUB = np.array([1.0, 0.8, 0.55, 0.35]), np.array([0.26, 0.32, 0.4, 0.5])
CHANNEL_HAZARD = np.array([1.0, 0.85, 0.9, 1.4])
REGION_RESOLUTION_H = np.array([8.0, 9.0, 22.0, 8.0, 12.0])  # East's support team is understaffed
BASE_HAZARD = 0.025  # monthly dropout hazard of an average standard-tier customer
DECAY = 0.75  # monthly decay of remembered service trouble
# Seasonality by calendar month, weekday (Mon..Sun) and hour of day, per kind of activity.
_SEASON = {
    "buy": [0.85, 0.8, 0.95, 0.95, 1.0, 0.9, 0.9, 0.95, 1.0, 1.05, 1.5, 1.75],
    "login": [0.95, 0.95, 1.0, 1.0, 1.0, 0.95, 0.9, 0.9, 1.0, 1.05, 1.2, 1.25],
    "email": [0.9, 0.9, 1.0, 1.0, 1.0, 0.9, 0.85, 0.85, 1.0, 1.1, 1.4, 1.3],
}
_DOW = {
    "buy": [0.9, 0.9, 0.95, 0.95, 1.05, 1.2, 1.05],
    "login": [0.95, 0.95, 0.95, 0.95, 1.0, 1.1, 1.1],
    "email": [1.0, 1.4, 0.9, 1.4, 0.9, 0.7, 0.7],  # campaigns go out on Tuesdays and Thursdays
}
_PEAK_HOUR = {"buy": 20, "login": 19, "email": 9}
COLUMNS = {  # the tables written, in order, and their columns
    "customers": "customer_id signup_ts region channel loyalty_tier",
    "transactions": "order_id customer_id ts amount",
    "events": "customer_id ts event_type value",
    "subscriptions": "customer_id start_ts end_ts plan mrr",
    "_truth": "customer_id dropout_ts n_support_tickets n_complaints is_detractor loyalty_tier",
    "contacts": "customer_id ts channel outcome",
}
RETURN_WITHIN_DAYS = 60  # a saved customer's first purchase comes within min(horizon, this) days
_PLANT_STREAM = 17  # the plant's rng is seeded [seed, this]: never the main stream, even for equal seeds


@dataclass(frozen=True)
class GenerationSummary:
    """What :func:`generate_sample` wrote."""

    out_dir: Path
    customers: int
    transactions: int
    events: int
    subscriptions: int
    start: pd.Timestamp
    end: pd.Timestamp
    planted: dict | None = None  # outreach, control, would_be_churners, saved, ... (with a plant)


def _rate_table(start: pd.Timestamp, n_hours: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Hourly intensity multiplier (season x weekday x hour of day) from ``start`` on, and its
    integral in days: ``cum[h]`` is the intensity accumulated before hour ``h``."""
    hours = pd.date_range(start.floor("h"), periods=n_hours, freq="h")
    hod = 0.35 + 1.3 * np.exp(-0.5 * ((np.arange(24) - _PEAK_HOUR[kind]) / 3.5) ** 2)
    hod /= hod.mean()
    season, dow = np.asarray(_SEASON[kind]), np.asarray(_DOW[kind])
    mult = season[hours.month - 1] * dow[hours.day_of_week] * hod[hours.hour]
    return mult, np.concatenate([[0.0], np.cumsum(mult) / 24])


def _fade(fade_at: np.ndarray, fade_len: np.ndarray, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Activity multiplier: 1, then falling linearly to 0.2 over ``fade_len`` before ``fade_at``."""
    return 0.2 + 0.8 * np.clip((fade_at[idx] - t) / fade_len[idx], 0.0, 1.0)


def _arrivals(rng, expected: np.ndarray, lo: np.ndarray, span: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poisson(``expected``) arrivals per customer, uniform on ``[lo, lo + span)``: (index, second)."""
    idx = np.repeat(np.arange(expected.size), rng.poisson(expected))
    return idx, lo[idx] + (rng.random(idx.size) * span[idx]).astype(np.int64)


def _process(rng, rate, lo, hi, table, fade=None) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (index, second) of a Poisson process per customer on ``[lo, hi)``, intensity ``rate``/day
    x the hourly table (x the fade). Exact and sort-free: sorted uniforms on the integrated-intensity
    scale (normalised exponential spacings) are mapped back through the integral, then thinned."""
    mult, cum = table
    a, b = (cum[t // 3600] + (t % 3600) / DAY * mult[t // 3600] for t in (lo, np.maximum(hi, lo)))
    k = rng.poisson(rate * (b - a))
    idx = np.repeat(np.arange(rate.size), k + 1)  # a spare spacing per customer closes its segment
    s = np.cumsum(rng.exponential(size=idx.size))
    last = np.cumsum(k + 1) - 1
    base = np.concatenate([[0.0], s[last[:-1]]])
    scale = (b - a) / (s[last] - base)
    keep = np.ones(idx.size, dtype=bool)
    keep[last] = False
    idx, s = idx[keep], s[keep]
    v = a[idx] + (s - base[idx]) * scale[idx]
    h = np.searchsorted(cum, v, side="right") - 1
    t = np.clip(h * 3600 + ((v - cum[h]) / mult[h] * DAY).astype(np.int64), lo[idx], hi[idx] - 1)
    if fade is not None:
        keep = rng.random(t.size) < _fade(*fade, idx, t)
        idx, t = idx[keep], t[keep]
    return idx, t


def _customers(rng: np.random.Generator, n: int, start: pd.Timestamp, horizon: int) -> dict:
    """Draw signup times (growing acquisition with campaign peaks) and latent customer traits."""
    days = pd.date_range(start.floor("D"), periods=-(-horizon // DAY), freq="D")
    acq_season = np.array([1.3, 1.0, 1.0, 1.0, 1.0, 0.9, 0.9, 1.0, 1.2, 1.0, 1.4, 1.2])
    weight = np.exp(0.3 * np.arange(days.size) / 365.25) * acq_season[days.month - 1]
    signup = np.sort(rng.choice(days.size, n, p=weight / weight.sum()) * DAY + rng.integers(0, DAY, n))
    c = {"signup": np.minimum(signup, horizon - 1)}
    for key, k, p in (("region", 5, REGION_P), ("channel", 4, CHANNEL_P), ("tier", 4, TIER_P)):
        c[key] = rng.choice(k, n, p=p).astype(np.int8)
    # Heavy-tailed purchase rate (mean ~1 order per 6-7 weeks) and basket value (mean ~60).
    c["buy_rate"] = rng.gamma(1.2, 1 / 42 / 1.2, n) * TIER_BUY[c["tier"]]
    c["basket"] = rng.gamma(4.0, 60 / 4.0, n) * TIER_BASKET[c["tier"]]
    app = np.where(c["channel"] == 1, 1.8, 1.0)  # app users log in more
    c["login_rate"] = (0.01 + 0.6 * c["buy_rate"]) * rng.gamma(2.0, 0.5, n) * app
    c["open_rate"] = rng.gamma(1.5, 0.02 / 1.5, n)
    c["click_p"] = rng.beta(2.0, 8.0, n)
    c["frailty"] = rng.gamma(2.0, 0.5, n)  # unobserved churn-proneness
    # Churn-prone customers run into more problems, and marketplace orders go wrong more often.
    trouble = np.sqrt(c["frailty"]) * np.where(c["channel"] == 3, 1.5, 1.0)
    c["ticket_rate"] = rng.gamma(0.7, 0.045 / 0.7, n) * trouble
    c["satisfaction"] = 8.6 - 0.9 * np.log(c["frailty"]) + rng.normal(0.0, 0.8, n)
    return c


def _simulate_lives(rng: np.random.Generator, c: dict, bounds: np.ndarray, start: pd.Timestamp) -> tuple:
    """Month by month: draw dropouts from past service trouble, then this month's service events.

    Returns dropout seconds (-1: none), the sorted service events and the per-customer drivers."""
    n = c["signup"].size
    dropout = np.full(n, -1, dtype=np.int64)
    tickets, slow, complaints, detractor = (np.zeros(n) for _ in range(4))
    base = BASE_HAZARD * TIER_HAZARD[c["tier"]] * CHANNEL_HAZARD[c["channel"]] * c["frailty"]
    base *= (c["buy_rate"] * 42) ** -0.25  # frequent buyers are more attached
    out: list[tuple[np.ndarray, ...]] = []
    for m_lo, m_hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        month = (start + pd.Timedelta(seconds=(m_lo + m_hi) // 2)).month
        lo = np.maximum(c["signup"], m_lo)
        alive = (lo < m_hi) & (dropout < 0)
        hazard = base * np.where(m_lo - c["signup"] < 90 * DAY, 1.3, 1.0)  # newcomers leave more easily
        hazard *= (1 + 1.5 * tickets) * (1 + 3.0 * slow) * (1 + 3.0 * complaints) * (1 + 2.0 * detractor)
        drop = alive & (rng.random(n) < -np.expm1(-hazard * np.maximum(m_hi - lo, 0) / (m_hi - m_lo)))
        dropout[drop] = lo[drop] + (rng.random(int(drop.sum())) * (m_hi - lo[drop])).astype(np.int64)
        hi = np.where(drop, dropout, m_hi)
        span = np.where(alive, hi - lo, 0)
        # Support tickets; resolution is slower in East and in the holiday backlog.
        ti, tt = _arrivals(rng, c["ticket_rate"] * span / (m_hi - m_lo), lo, span)
        backlog = 1.7 if month in (12, 1) else 1.0
        hours = np.round(rng.lognormal(np.log(REGION_RESOLUTION_H[c["region"][ti]] * backlog), 0.9), 1)
        is_slow = hours > 48
        # A slow ticket often turns into a complaint while the customer waits; some complain anyway.
        cp = rng.random(ti.size) < np.where(is_slow, 0.45, 0.04)
        ci, ct = ti[cp], tt[cp] + (hours[cp] * 3600 * rng.uniform(0.3, 1.0, int(cp.sum()))).astype(np.int64)
        ok = ct < hi[ci]
        bi, bt = _arrivals(rng, 0.004 * span / (m_hi - m_lo), lo, span)
        ci, ct = np.concatenate([ci[ok], bi]), np.concatenate([ct[ok], bt])
        out.append((ti, tt, np.full(ti.size, 3, np.int8), hours))
        out.append((ci, ct, np.full(ci.size, 4, np.int8), np.full(ci.size, np.nan)))
        tickets = DECAY * tickets + np.bincount(ti, minlength=n)
        slow = DECAY * slow + np.bincount(ti, weights=is_slow, minlength=n)
        complaints = DECAY * complaints + np.bincount(ci, minlength=n)
        detractor *= DECAY
        if month in (3, 6, 9, 12):  # quarterly NPS survey, ~15% answer; recent trouble drags the score down
            ni = np.flatnonzero((span > 0) & (rng.random(n) < 0.15))
            score = c["satisfaction"][ni] - 1.0 * tickets[ni] - 1.5 * slow[ni] - 2.0 * complaints[ni]
            score = np.clip(np.round(score + rng.normal(0.0, 1.5, ni.size)), 0, 10)
            nts = lo[ni] + (rng.random(ni.size) * span[ni]).astype(np.int64)
            out.append((ni, nts, np.full(ni.size, 5, np.int8), score))
            detractor[ni[score <= 6]] += 1
    idx, t, typ, val = (np.concatenate(parts) for parts in zip(*out, strict=True))
    o = np.argsort(idx * int(bounds[-1]) + t, kind="stable")
    drivers = [np.bincount(idx[k], minlength=n) for k in (typ == 3, typ == 4, (typ == 5) & (val <= 6))]
    return dropout, (idx[o], t[o], typ[o], val[o]), drivers[0], drivers[1], drivers[2] > 0


def _chunk(rng, c: dict, dropout: np.ndarray, service: tuple, a: int, step: int, horizon: int, tables: dict):
    """Purchases, refunds and events of customers ``a..a+step-1``, each sorted by (customer, time)."""
    b = min(a + step, dropout.size)
    n, cut = b - a, slice(a, b)
    signup, dropout = c["signup"][cut], dropout[cut]
    limit = np.where(dropout >= 0, dropout, horizon)
    fade = (np.where(dropout >= 0, dropout, 2 * horizon).astype(float), rng.uniform(60, 90, n) * DAY)
    # Purchases: most customers order right at signup, then at their own (fading) rate.
    pi, pt = _process(rng, c["buy_rate"][cut], signup, limit, tables["buy"], fade)
    first_t = signup + rng.integers(60, 1800, n)
    first = np.flatnonzero((rng.random(n) < 0.75) & (first_t < limit))
    pi, pt = np.concatenate([pi, first]), np.concatenate([pt, first_t[first]])
    amount = c["basket"][cut][pi] * rng.lognormal(0.0, 0.45, pi.size) / np.exp(0.45**2 / 2)
    amount = np.maximum(np.round(amount, 2), 1.0)
    # Refunds follow a purchase of the same customer by 1-30 days, fully or partially.
    r = np.flatnonzero(rng.random(pi.size) < 0.031)
    rt = pt[r] + rng.integers(DAY, 30 * DAY, r.size)
    r, rt = r[rt < limit[pi[r]]], rt[rt < limit[pi[r]]]
    partial = rng.random(r.size) < 0.3
    refund = -np.where(partial, np.round(amount[r] * rng.uniform(0.2, 0.9, r.size), 2), amount[r])
    ti, tt, ta = np.concatenate([pi, pi[r]]), np.concatenate([pt, rt]), np.concatenate([amount, refund])
    o = np.argsort(ti * horizon + tt, kind="stable")
    tx = (ti[o] + a + 1, tt[o], ta[o])
    # Engagement: logins (session minutes shrink while fading), email opens and clicks.
    li, lt = _process(rng, c["login_rate"][cut], signup, limit, tables["login"], fade)
    minutes = rng.lognormal(np.log(6.0), 0.7, li.size) * (0.4 + 0.6 * _fade(*fade, li, lt))
    oi, ot = _process(rng, c["open_rate"][cut], signup, limit, tables["email"], fade)
    ck = rng.random(oi.size) < c["click_p"][cut][oi] * _fade(*fade, oi, ot)
    ci, ct = oi[ck], ot[ck] + 20 + rng.exponential(150.0, int(ck.sum())).astype(np.int64)
    ci, ct = ci[ct < limit[ci]], ct[ct < limit[ci]]
    # A rare stray email open after the dropout, as real data has.
    si, st = _process(rng, c["open_rate"][cut] * 0.03, limit, np.full(n, horizon), tables["email"])
    sv = [part[slice(*np.searchsorted(service[0], [a, b]))] for part in service]
    ei, et = np.concatenate([li, oi, si, ci, sv[0] - a]), np.concatenate([lt, ot, st, ct, sv[1]])
    sizes = [li.size, oi.size + si.size, ci.size]
    etype = np.concatenate([np.repeat(np.arange(3, dtype=np.int8), sizes), sv[2]])
    evalue = np.concatenate([np.round(minutes, 1), np.full(sizes[1] + sizes[2], np.nan), sv[3]])
    o = np.argsort(ei * horizon + et, kind="stable")  # merges already sorted runs: cheap
    return tx, (ei[o] + a + 1, et[o], etype[o], evalue[o])


def _subscriptions(rng: np.random.Generator, c: dict, dropout: np.ndarray, horizon: int) -> tuple:
    """~30% subscribe; plans end near the dropout, some cancel early and some of those come back."""
    signup, n = c["signup"], dropout.size
    limit = np.where(dropout >= 0, dropout, horizon)
    i = np.flatnonzero((rng.random(n) < TIER_SUB[c["tier"]]) & (limit - signup > 2 * DAY))
    s1 = signup[i] + (rng.random(i.size) * 0.3 * (limit - signup)[i]).astype(np.int64)
    natural = np.where(dropout[i] >= 0, dropout[i] + rng.integers(-14 * DAY, 21 * DAY, i.size), horizon)
    voluntary = rng.random(i.size) < 0.12
    cancel = s1 + ((limit[i] - s1) * rng.uniform(0.1, 0.9, i.size)).astype(np.int64)
    e1 = np.where(voluntary, cancel, np.maximum(natural, s1 + DAY))
    s2 = e1 + rng.integers(30 * DAY, 150 * DAY, i.size)
    back = voluntary & (rng.random(i.size) < 0.4) & (s2 < limit[i])
    e2 = np.maximum(natural, s2 + DAY)
    plan_cum = np.cumsum([[0.6, 0.3, 0.1], [0.5, 0.35, 0.15], [0.4, 0.4, 0.2], [0.25, 0.4, 0.35]], axis=1)
    plan = (rng.random(i.size)[:, None] > plan_cum[c["tier"][i], :2]).sum(axis=1)
    mrr = PLAN_MRR[plan] * rng.choice([1.0, 0.9, 0.8], i.size, p=[0.75, 0.15, 0.1])
    # Win-backs often downgrade and get 20% off.
    win_plan = np.maximum(plan[back] - (rng.random(int(back.sum())) < 0.5), 0)
    si = np.concatenate([i, i[back]])
    start, end = np.concatenate([s1, s2[back]]), np.concatenate([e1, e2[back]])
    plans, mrrs = np.concatenate([plan, win_plan]), np.concatenate([mrr, PLAN_MRR[win_plan] * 0.8])
    o = np.argsort(si * horizon + start, kind="stable")
    return si[o], start[o], end[o], plans[o], np.round(mrrs[o], 2)


def _merge_sorted(keep: np.ndarray, old: tuple, new: tuple, horizon: int) -> tuple[np.ndarray, ...]:
    """Kept rows of ``old`` plus ``new`` (customer id, second, ...), sorted by (customer, time). The sort
    is stable and the kept rows already sorted, so every other customer's rows keep their order."""
    merged = [np.concatenate([o[keep], n]) for o, n in zip(old, new, strict=True)]
    order = np.argsort(merged[0] * horizon + merged[1], kind="stable")
    return tuple(part[order] for part in merged)


def _plant_save(
    rng, plant: PlantedSave, c: dict, tables: dict, a: int, days: np.ndarray, horizon: int, world: dict
) -> tuple[np.ndarray, tuple, dict]:
    """Save a share of the outreach group's would-be churners; only the saved customers' rows change.

    A would-be churner has no positive purchase in ``[as_of, as_of + horizon)`` (inactivity churn; a
    horizon past the end of the data is cut there). Exactly ``round(save_share * n)`` of them are
    saved, drawn at random: their dropout is cancelled, their purchases from ``as_of`` on become a
    non-fading Poisson process at their own rate plus one return purchase after the contact and within
    ``min(horizon, 60)`` days, their logins from ``as_of`` on stop fading, and subscriptions ending
    on or after ``as_of`` stay active (a win-back row after one is dropped: the plan never ended).
    New orders get ids above every baseline order, so no other customer's order id moves.

    ``world`` holds the baseline arrays (``tx``, ``ev``, ``sub``, ``dropout``); the saved version is
    put in their place. Returns the saved mask, the contacts (index, seconds, channel, outcome) and
    the counts.
    """
    n = c["signup"].size
    outreach, control = np.unique(plant.outreach_ids) - 1, np.unique(plant.control_ids) - 1
    contact_t, channel, outcome = draw_contacts(rng, outreach, a, days)
    tx_id, tx_t, tx_amount, tx_order = world["tx"]
    window = (tx_t >= a) & (tx_t < min(a + plant.horizon_days * DAY, horizon)) & (tx_amount > 0)
    bought = np.zeros(n, dtype=bool)
    bought[tx_id[window] - 1] = True
    would = outreach[~bought[outreach]]
    saved = np.sort(rng.choice(would, round(plant.save_share * would.size), replace=False))
    is_saved = np.zeros(n, dtype=bool)
    is_saved[saved] = True

    # Purchases: a steady process from as_of on, plus the return purchase the outreach brought.
    k = saved.size
    lo, hi = np.full(k, a, dtype=np.int64), np.full(k, horizon, dtype=np.int64)
    pi, pt = _process(rng, c["buy_rate"][saved], lo, hi, tables["buy"])
    back_hi = a + min(plant.horizon_days, RETURN_WITHIN_DAYS) * DAY
    back_lo = np.maximum(a + DAY, contact_t[np.searchsorted(outreach, saved)] + 3600)
    back_t = back_lo + (rng.random(k) * (back_hi - back_lo)).astype(np.int64)
    pi, pt = np.concatenate([pi, np.arange(k)]), np.concatenate([pt, back_t])
    amount = c["basket"][saved][pi] * rng.lognormal(0.0, 0.45, pi.size) / np.exp(0.45**2 / 2)
    amount = np.maximum(np.round(amount, 2), 1.0)
    order = tx_order.max(initial=100_000) + 1 + np.argsort(np.argsort(pt, kind="stable"), kind="stable")
    keep = ~(is_saved[tx_id - 1] & (tx_t >= a))
    world["tx"] = _merge_sorted(keep, world["tx"], (saved[pi] + 1, pt, amount, order), horizon)

    # Logins from as_of on, no longer fading (other events stay as they were).
    ev_id, ev_t, ev_kind, _ = world["ev"]
    li, lt = _process(rng, c["login_rate"][saved], lo, hi, tables["login"])
    minutes = np.round(rng.lognormal(np.log(6.0), 0.7, li.size), 1)
    keep = ~(is_saved[ev_id - 1] & (ev_t >= a) & (ev_kind == 0))
    login = (saved[li] + 1, lt, np.zeros(li.size, dtype=np.int8), minutes)
    world["ev"] = _merge_sorted(keep, world["ev"], login, horizon)

    # Subscriptions ending on or after as_of stay active (an end at the horizon is written as null).
    si, start, end, plans, mrr = world["sub"]
    end = np.where(is_saved[si] & (end >= a), np.maximum(end, horizon), end)
    open_before = np.zeros(n, dtype=bool)
    open_before[si[(start < a) & (end >= horizon)]] = True
    keep = ~(is_saved[si] & (start >= a) & open_before[si])
    world["sub"] = (si[keep], start[keep], end[keep], plans[keep], mrr[keep])
    world["dropout"] = np.where(is_saved, -1, world["dropout"])

    counts = {
        "outreach": int(outreach.size),
        "control": int(control.size),
        "would_be_churners": int(would.size),
        "saved": int(k),
        "control_would_be_churners": int((~bought[control]).sum()),
        "contacts": int(outreach.size),
    }
    return is_saved, (outreach, contact_t, channel, outcome), counts


def _ts(seconds: np.ndarray, start_us: int, horizon: int) -> pa.Array:
    """Seconds since start as ``timestamp[us, UTC]``; outside ``[0, horizon)`` means null (never/not yet)."""
    null = (seconds < 0) | (seconds >= horizon)
    return pa.array(start_us + seconds * 1_000_000, type=pa.timestamp("us", tz="UTC"), mask=null)


def _labels(codes: np.ndarray, names: tuple[str, ...]) -> pa.Array:
    return pa.array(names, pa.string()).take(pa.array(codes))


def _write(out_dir: Path, say: Callable[[str], None], name: str, *arrays: object, extra: tuple = ()) -> int:
    """Write ``name.parquet`` via a temporary file and a rename, so a crash never leaves half a file."""
    table = pa.table(list(arrays), names=COLUMNS[name].split() + list(extra))
    say(f"writing {name}.parquet ({table.num_rows:,} rows)")
    tmp = out_dir / f".{name}.parquet.{os.getpid()}.tmp"
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, out_dir / f"{name}.parquet")
    finally:
        tmp.unlink(missing_ok=True)
    return table.num_rows


def _order_ids(t: np.ndarray) -> np.ndarray:
    """Order numbers increase with time as a shop's would: rank by (second, row) packed in an int64."""
    shift = max(t.size.bit_length(), 1)  # < 2**30 rows and < 2**32 seconds (136 years) fit
    order = np.sort((t << shift) | np.arange(t.size)) & ((1 << shift) - 1)
    ids = np.empty(t.size, dtype=np.int64)
    ids[order] = np.arange(100_001, 100_001 + t.size)
    return ids


def generate_sample(
    out_dir: Path,
    n_customers: int = 20_000,
    seed: int = 0,
    end: str = "2026-10-31",
    years: float = 3.0,
    progress: Callable[[str], None] | None = None,
    plant: PlantedSave | None = None,
    purchase_rate: float = 1.0,
) -> GenerationSummary:
    """Write a realistic sample data directory (customers, transactions, events, subscriptions).

    Also writes ``_truth.parquet`` (dropout date and churn drivers per customer), meant for tests
    only. Every timestamp lies in ``[end - years, end)``; the same seed gives identical files.

    With ``plant``, the same world is drawn, then a share of the list's outreach group is saved (see
    :func:`_plant_save`): only the saved customers' rows differ, ``_truth.parquet`` gains a boolean
    ``planted_save`` and ``contacts.parquet`` holds one contact per outreach customer. Without it, a
    ``contacts.parquet`` left by an earlier planted run is removed.

    Args:
        out_dir: folder to write into, created if missing; existing files are replaced.
        n_customers: number of customers (1M gives ~10M transactions and ~20M events).
        seed: seed of ``numpy.random.default_rng``.
        end: exclusive end of the data, a date or timestamp (naive means UTC).
        years: length of the period, rounded to whole months.
        progress: called with short human messages while generating.
        plant: a save effect to plant on a past risk list's outreach group.
        purchase_rate: multiplies every customer's purchase rate once drawn (0.5: half the orders);
            dropouts, engagement and every draw before the purchases stay the same.

    Returns:
        The folder, row counts per table, the period's start and end, and with ``plant`` its counts.

    Raises:
        BadInputError: the plant's list does not fit the generated data (date, customer ids).
    """
    if n_customers < 1:
        raise ValueError(f"n_customers must be at least 1, got {n_customers}")
    if not (np.isfinite(purchase_rate) and purchase_rate > 0):
        raise ValueError(f"purchase_rate must be a positive number, got {purchase_rate}")
    say = progress or (lambda _message: None)
    rng = np.random.default_rng(seed)
    end_ts = pd.Timestamp(end)
    end_ts = (end_ts.tz_localize("UTC") if end_ts.tzinfo is None else end_ts.tz_convert("UTC")).floor("s")
    months = max(1, round(years * 12))
    start_ts = end_ts - pd.DateOffset(months=months)
    second = pd.Timedelta(seconds=1)
    horizon = (end_ts - start_ts) // second
    bounds = np.array([(start_ts + pd.DateOffset(months=k) - start_ts) // second for k in range(months + 1)])
    bounds[-1] = horizon
    if plant is not None:
        _check_plant(plant, n_customers, start_ts, end_ts)

    c = _customers(rng, n_customers, start_ts, horizon)
    say(f"simulating {months} months of customer lives")
    dropout, service, n_tickets, n_complaints, ever_detractor = _simulate_lives(rng, c, bounds, start_ts)
    c["buy_rate"] = c["buy_rate"] * purchase_rate  # after the lives: the same customers drop out
    say(f"drawing purchases and engagement of {n_customers:,} customers")
    tables = {kind: _rate_table(start_ts, horizon // 3600 + 1, kind) for kind in _SEASON}
    step = 200_000  # chunks of customers bound the memory of intermediate arrays
    chunks = [_chunk(rng, c, dropout, service, a, step, horizon, tables) for a in range(0, n_customers, step)]
    txs, evs = zip(*chunks, strict=True)
    tx_id, tx_t, tx_amount = (np.concatenate(p) for p in zip(*txs, strict=True))
    ev_id, ev_t, ev_kind, ev_val = (np.concatenate(p) for p in zip(*evs, strict=True))
    del chunks, txs, evs
    sub = _subscriptions(rng, c, dropout, horizon)
    tx_order = _order_ids(tx_t)
    planted = saved = contacts = None
    if plant is not None:
        say(f"planting a {plant.save_share:.0%} save effect on the outreach group")
        world = {"tx": (tx_id, tx_t, tx_amount, tx_order), "ev": (ev_id, ev_t, ev_kind, ev_val)}
        world |= {"sub": sub, "dropout": dropout}
        a, days = _seconds(plant.as_of, start_ts), contact_days(plant.as_of, start_ts)
        prng = np.random.default_rng([plant.seed, _PLANT_STREAM])
        saved, contacts, planted = _plant_save(prng, plant, c, tables, a, days, horizon, world)
        (tx_id, tx_t, tx_amount, tx_order), (ev_id, ev_t, ev_kind, ev_val) = world["tx"], world["ev"]
        sub, dropout = world["sub"], world["dropout"]

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write, ts = partial(_write, out_dir, say), partial(_ts, start_us=start_ts.value // 1000, horizon=horizon)
    ids, tier = np.arange(1, n_customers + 1, dtype=np.int64), _labels(c["tier"], TIERS)
    region, channel = _labels(c["region"], REGIONS), _labels(c["channel"], CHANNELS)
    rows = [  # one table at a time, so only its Arrow arrays are alive while it is written
        write("customers", ids, ts(c["signup"]), region, channel, tier),
        write("transactions", tx_order, tx_id, ts(tx_t), tx_amount),
        write("events", ev_id, ts(ev_t), _labels(ev_kind, EVENT_TYPES), pa.array(ev_val, from_pandas=True)),
        write("subscriptions", sub[0] + 1, ts(sub[1]), ts(sub[2]), _labels(sub[3], PLANS), sub[4]),
    ]
    truth = (ids, ts(dropout), n_tickets, n_complaints, ever_detractor, tier)
    if saved is None:
        write("_truth", *truth)
        # Contacts an earlier planted run left here belong to other data.
        (out_dir / "contacts.parquet").unlink(missing_ok=True)
    else:
        write("_truth", *truth, saved, extra=("planted_save",))
        ci, ct, channel, outcome = contacts
        contact_labels = _labels(channel, CONTACT_CHANNELS), _labels(outcome, CONTACT_OUTCOMES)
        write("contacts", ci + 1, ts(ct), *contact_labels)
    return GenerationSummary(out_dir, *rows, start=start_ts, end=end_ts, planted=planted)


def _seconds(stamp: pd.Timestamp, start_ts: pd.Timestamp) -> int:
    return int((stamp - start_ts) // pd.Timedelta(seconds=1))


def _check_plant(plant: PlantedSave, n_customers: int, start_ts: pd.Timestamp, end_ts: pd.Timestamp) -> None:
    """The list must be of this data: its date inside the period, its customers among the generated."""
    needs = pd.Timedelta(days=min(plant.horizon_days, RETURN_WITHIN_DAYS))
    if not start_ts < plant.as_of <= end_ts - needs:
        raise BadInputError(
            f"the risk list's as_of {plant.as_of.date()} must lie after the data's start {start_ts.date()} and "
            f"at least {needs.days} days before its end {end_ts.date()}, so that saved customers can return"
        )
    for name, ids in (("outreach", plant.outreach_ids), ("control", plant.control_ids)):
        unknown = ids[(ids < 1) | (ids > n_customers)]
        if unknown.size:
            raise BadInputError(
                f"{unknown.size:,} {name} customer id(s) (e.g. {unknown[0]}) are not among the generated "
                f"customers 1..{n_customers:,}: generate with the seed and size the list was scored on"
            )
