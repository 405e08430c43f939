"""Planning a treatment for an event (a wedding, a photoshoot).

The practitioner's rule (seed article): "schedule two to four weeks before", because the result
settles by day 14 (the two-week check) and a touch-up given then needs about a week. The desk
turns it into a range of treatment dates ``d`` for the patient's own predicted duration ``T``:

- settled, with time for a touch-up: ``event - d >= settle_days + touch_up_days``;
- still holding on the day with probability ``p``: ``P(T > event - d) >= p``, i.e.
  ``event - d <= t_p`` where ``t_p`` is the predictive ``1 - p`` quantile of ``T``;
- not in the past (``d >= today``) and not sooner than the label's minimum interval after the
  last treatment of the region (``d >= last + floor``), when that is known.

If no date satisfies all of them, the plan says which condition rules every date out.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from analysis.serve.config import EventConfig


@dataclass(frozen=True)
class EventPlan:
    """Treatment dates for an event; ``earliest``/``latest`` are ``None`` when none qualifies.

    ``prob_at_earliest`` / ``prob_at_latest``: predicted probability that the effect still
    holds on the event day when treated on that date. ``reason`` explains an empty range.
    """

    event_date: dt.date
    earliest: dt.date | None
    latest: dt.date | None
    hold_days: float
    lead_days: int
    hold_probability: float
    prob_at_earliest: float | None
    prob_at_latest: float | None
    limited_by: tuple[str, ...]
    reason: str | None

    @property
    def possible(self) -> bool:
        return self.earliest is not None


def plan_event(
    event_date: dt.date,
    hold_days: float,
    survival,
    config: EventConfig,
    today: dt.date,
    last_treatment: dt.date | None = None,
    floor_days: float = 90.0,
) -> EventPlan:
    """The range of treatment dates for ``event_date`` (see the module docstring).

    Parameters
    ----------
    event_date
        Day of the event.
    hold_days
        ``t_p``: days after treatment up to which the effect holds with probability
        ``config.hold_probability`` (the predictive ``1 - p`` quantile of the duration).
    survival
        ``survival(days) -> probabilities`` of the same predictive law (for the stated
        probability at each end of the range).
    config
        Settle and touch-up days, ``hold_probability``.
    today
        No treatment date before this one.
    last_treatment, floor_days
        The region's last treatment and the label's minimum interval (no date before
        ``last_treatment + floor_days``).
    """
    lead = config.lead_days
    p = config.hold_probability
    latest = event_date - dt.timedelta(days=lead)
    earliest = event_date - dt.timedelta(days=int(math.floor(hold_days)))
    limits: list[str] = ["effect holds"]
    floor_date = None
    if last_treatment is not None:
        floor_date = last_treatment + dt.timedelta(days=int(math.ceil(floor_days)))
    for bound, name in ((today, "today"), (floor_date, "label floor")):
        if bound is not None and bound > earliest:
            earliest, limits = bound, [name]
    reason = None
    if earliest > latest:
        reason = _why_none(event_date, hold_days, lead, p, today, floor_date, floor_days)
        return EventPlan(
            event_date, None, None, hold_days, lead, p, None, None, tuple(limits), reason
        )
    probs = survival([(event_date - earliest).days, (event_date - latest).days])
    return EventPlan(
        event_date,
        earliest,
        latest,
        hold_days,
        lead,
        p,
        float(probs[0]),
        float(probs[1]),
        tuple(limits),
        None,
    )


def _why_none(
    event_date: dt.date,
    hold_days: float,
    lead: int,
    p: float,
    today: dt.date,
    floor_date: dt.date | None,
    floor_days: float,
) -> str:
    pct = f"{100 * p:.0f}%"
    if hold_days < lead:
        return (
            f"With {pct} probability the effect is predicted to hold for only {hold_days:.0f} "
            f"days, fewer than the {lead} days needed between treatment and event (the two-week "
            "check plus time for a touch-up): no treatment date gives both a settled result and "
            f"a {pct} chance that it still holds on the day."
        )
    latest = event_date - dt.timedelta(days=lead)
    if today > latest:
        return (
            f"The event is {(event_date - today).days} days away; a treatment needs at least "
            f"{lead} days before it (the two-week check plus time for a touch-up), so the latest "
            f"date was {latest.isoformat()}."
        )
    assert floor_date is not None  # the only other bound
    return (
        f"The label allows the next treatment only {floor_days:.0f} days after the last one, "
        f"i.e. from {floor_date.isoformat()}, which is later than the latest date that leaves "
        f"time to settle and touch up ({latest.isoformat()})."
    )
