"""The outreach plan in words: what the risk list itself contacts, and where expected profit peaks.

Counts come from the list the report read (its ``group`` column, which its ``summary.json`` counts),
never from what the current settings would select, so the page and the list cannot disagree.
"""

from __future__ import annotations

from churnguard.reports.content import ReportContent
from churnguard.reports.markup import in_currency, money


def _tiers(names: list[str]) -> str:
    """``critical and high``, ``critical, high and medium``."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def outreach_plan(c: ReportContent) -> list[str]:
    """The list's own outreach in words, then where expected profit peaks and the setting that gets there.

    Every count is the risk list's: its ``outreach`` and ``control`` rows (the groups of its
    ``summary.json``), not what the current settings would select.
    """
    p, capacity, cash = c.risk.profit, c.settings.outreach.capacity, in_currency(c.settings.report.currency)
    contacted, best, tiers = p["contacted"], p["best_contact_count"], _tiers(p["eligible_tiers"])
    if p["capped"]:
        limit = f"capacity {contacted:,}" + (
            f"; outreach.capacity is {capacity:,} now" if capacity not in (None, contacted) else ""
        )
    elif capacity is not None:
        limit = f"capacity {capacity:,} not reached: these tiers hold {p['eligible']:,} customers"
    else:
        limit = "every customer of these tiers: no capacity limit reached"
    plan = [
        f"The list contacts {contacted:,} customers ({limit}): the highest value at risk in the {tiers} "
        f"tiers. Another {p['control']:,} are held out as a control group and not contacted. Expected profit "
        f"of the {contacted:,} contacts: {cash(p['contacted_profit'])} (each costs "
        f"{money(p['cost_per_contact'], c.settings.report.currency, 2)}; {p['save_rate']:.0%} of contacted "
        "churners are kept, worth their customer value)."
    ]
    peak = f"Expected profit would peak at {best:,} contacts ({cash(p['best_profit'])})"
    missing = [t for t in p["best_tiers"] if t not in p["eligible_tiers"]]
    if best > contacted:
        verb = "raise" if capacity is not None else "set"
        advice = f"{peak}, highest value at risk first: {verb} outreach.capacity to {best:,}"
        if missing:
            advice += f" and add {_tiers(missing)} to outreach.eligible_tiers"
        plan.append(advice + " to contact every customer expected to be worth the cost.")
    elif best < contacted:
        plan.append(
            f"{peak}: past that, a contact is expected to cost more than it saves; lower outreach.capacity "
            f"to {best:,}."
        )
    else:
        plan.append("That is also where expected profit peaks.")
    plan.append(f"Contacting all {p['list_size']:,} customers would give {cash(p['contact_all_profit'])}.")
    return plan
