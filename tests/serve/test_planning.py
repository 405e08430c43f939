"""Event planning on a known duration law (no model): every condition at both ends of the range."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy import stats

from analysis.serve.config import EventConfig
from analysis.serve.planning import plan_event

CONFIG = EventConfig(settle_days=14, touch_up_days=7, hold_probability=0.9)
EVENT = dt.date(2027, 6, 12)
TODAY = dt.date(2027, 1, 4)

# log-normal duration, median 120 days, sigma 0.25: P(T > t) known in closed form
LAW = stats.lognorm(s=0.25, scale=120.0)


def survival(days):
    return LAW.sf(np.asarray(days, dtype=float))


def hold_days(p=0.9):
    return float(LAW.ppf(1 - p))  # ~87 days


def test_the_range_is_exactly_where_every_condition_holds():
    plan = plan_event(EVENT, hold_days(), survival, CONFIG, TODAY)
    assert plan.possible
    assert plan.latest == EVENT - dt.timedelta(days=21)
    lead_earliest = (EVENT - plan.earliest).days
    assert survival(lead_earliest) >= 0.9 > survival(lead_earliest + 1)
    assert plan.prob_at_earliest == pytest.approx(float(survival(lead_earliest)))
    assert plan.prob_at_latest == pytest.approx(float(survival(21)))
    assert plan.limited_by == ("effect holds",)


def test_today_and_the_label_floor_move_the_earliest_date():
    late_today = EVENT - dt.timedelta(days=40)
    plan = plan_event(EVENT, hold_days(), survival, CONFIG, late_today)
    assert plan.earliest == late_today and plan.limited_by == ("today",)
    last = EVENT - dt.timedelta(days=150)
    plan = plan_event(EVENT, hold_days(), survival, CONFIG, TODAY, last, floor_days=90)
    assert plan.earliest == last + dt.timedelta(days=90)
    assert plan.limited_by == ("label floor",)


def test_no_date_when_the_effect_is_too_short_says_why():
    plan = plan_event(EVENT, 18.0, survival, CONFIG, TODAY)
    assert not plan.possible
    assert "hold for only 18 days, fewer than the 21 days needed" in plan.reason


def test_no_date_when_the_event_is_too_close_says_why():
    plan = plan_event(EVENT, hold_days(), survival, CONFIG, EVENT - dt.timedelta(days=10))
    assert not plan.possible
    assert "The event is 10 days away" in plan.reason


def test_no_date_when_the_label_floor_comes_too_late_says_why():
    last = EVENT - dt.timedelta(days=80)
    plan = plan_event(EVENT, hold_days(), survival, CONFIG, TODAY, last, floor_days=90)
    assert not plan.possible
    assert "only 90 days after the last one" in plan.reason
