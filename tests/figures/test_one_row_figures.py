"""Figures of one-row tables draw without library warnings (matplotlib calls float() on a
one-element Series, which pandas deprecates: the plotting code passes arrays)."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.figures.complications import plot_caterpillar  # noqa: E402
from analysis.figures.survival import plot_calibration, plot_forest  # noqa: E402


def _draw(plot, *args, **kwargs):
    fig, ax = plt.subplots()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            plot(*args, ax=ax, **kwargs)
        return ax
    finally:
        plt.close(fig)


def test_forest_of_one_term():
    table = pd.DataFrame(
        {
            "label": ["cycle"],
            "time_ratio": [0.9],
            "time_ratio_lower": [0.8],
            "time_ratio_upper": [1.0],
        }
    )
    ax = _draw(plot_forest, table)
    assert list(ax.containers[0].lines[0].get_xdata()) == [0.9]


def test_calibration_of_one_group():
    table = pd.DataFrame(
        {
            "week": [12],
            "predicted": [0.7],
            "observed": [0.65],
            "observed_lower": [0.6],
            "observed_upper": [0.7],
        }
    )
    ax = _draw(plot_calibration, table, week=12)
    assert list(ax.containers[0].lines[0].get_ydata()) == [0.65]


def test_caterpillar_of_one_provider():
    table = pd.DataFrame(
        {
            "injector": ["I-1"],
            "rate_ratio_mean": [1.2],
            "rate_ratio_lower": [0.8],
            "rate_ratio_upper": [1.9],
            "too_few_to_judge": [False],
            "flagged": [False],
        }
    )
    ax = _draw(plot_caterpillar, table, level="injector", multiplier=1.5)
    assert list(ax.containers[0].lines[0].get_xdata()) == [1.2]
