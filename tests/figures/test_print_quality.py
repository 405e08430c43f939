"""Journal figures: every text at least 8 pt once printed at most 7 inches wide, a forest plot
that prints its numbers, smooth funnel limits, legends without ``region=``, distinct styles.

Small hand-made tables in the shape of the stage outputs stand in for the real ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from analysis.figures import advice, cohort, complications, flow, survival
from analysis.figures.theme import MIN_PRINT_PT, smallest_print_pt, theme

REGIONS = ["glabella", "forehead", "crows_feet", "masseter", "lip_flip", "chin", "dao"]
RNG = np.random.default_rng(4)


def _curves() -> pd.DataFrame:
    rows = []
    for k, r in enumerate(REGIONS):
        t = np.arange(0.0, 301.0, 2.0)
        s = np.exp(-((t / (110 + 8 * k)) ** 3))
        rows.append(
            pd.DataFrame(
                {
                    "group": f"region={r}",
                    "time_days": t,
                    "survival": s,
                    "lower": s * 0.95,
                    "upper": np.minimum(1, s * 1.05),
                    "n_known_effective": (400 * s).astype(int),
                    "variable": "region",
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _ratios() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "label": ["Dose doubling", "Men vs women", "Muscle bulk, per grade"],
            "time_ratio": [1.19, 0.853, 0.925],
            "time_ratio_lower": [1.12, 0.839, 0.918],
            "time_ratio_upper": [1.26, 0.868, 0.931],
        }
    )


def _providers(n: int = 40) -> pd.DataFrame:
    n_treat = RNG.integers(10, 900, n)
    bench = np.full(n, 0.03)
    rate = RNG.beta(3, 90, n)
    return pd.DataFrame(
        {
            "complication": np.repeat(["headache", "eyelid_ptosis"], n // 2),
            "injector": [f"I-{k:06d}" for k in range(n)],
            "n_treatments": n_treat,
            "observed_rate": rate,
            "benchmark_rate": bench,
            "rate_ratio_mean": rate / bench,
            "rate_ratio_lower": rate / bench * 0.6,
            "rate_ratio_upper": rate / bench * 1.5,
            "too_few_to_judge": n_treat < 30,
            "flagged": np.arange(n) == 3,
            "model_structure": "hierarchical",
        }
    )


def _dose_risk() -> pd.DataFrame:
    grid = np.geomspace(0.5, 2.5, 12)
    return pd.DataFrame(
        [
            {
                "complication": c,
                "region": r,
                "rel_dose": d,
                "risk_mean": 0.02 * d,
                "risk_lower": 0.015 * d,
                "risk_upper": 0.025 * d,
            }
            for c in ("headache", "eyelid_ptosis", "brow_ptosis", "injection_site_reaction")
            for r in REGIONS + ["platysma", "bunny_lines", "brow_lift"]
            for d in grid
        ]
    )


def _ppc(key: str) -> pd.DataFrame:
    items = REGIONS if key == "region" else [f"I-{k:06d}" for k in range(20)]
    return pd.DataFrame(
        [
            {
                "complication": c,
                key: i,
                "replicated_mean": 10.0,
                "replicated_lower": 4.0,
                "replicated_upper": 17.0,
                "observed_events": 9.0 + k % 9,
                "within_95": k % 9 < 8,
            }
            for c in ("headache", "eyelid_ptosis", "brow_ptosis", "injection_site_reaction")
            for k, i in enumerate(items)
        ]
    )


def _trends() -> pd.DataFrame:
    quarters = [f"{y}Q{q}" for y in (2022, 2023, 2024) for q in (1, 2, 3, 4)]
    rate = np.full(len(quarters), 0.14)
    return pd.DataFrame(
        {
            "quarter": quarters,
            "n_episodes": RNG.integers(700, 2000, len(quarters)),
            "n_retreated": RNG.integers(300, 600, len(quarters)),
            "complication_rate": rate,
            "complication_rate_lower": rate - 0.02,
            "complication_rate_upper": rate + 0.02,
            "median_retreat_days": np.full(len(quarters), 150.0),
            "median_retreat_lower": np.full(len(quarters), 145.0),
            "median_retreat_upper": np.full(len(quarters), 155.0),
        }
    )


def _advice() -> pd.DataFrame:
    rows = []
    for r in REGIONS + ["platysma", "bunny_lines", "brow_lift"]:
        for m in (0.5, 1.0, 1.5, 2.0):
            for tier in ("low", "moderate", "high"):
                rows.append(
                    {
                        "region": r,
                        "dose_multiple": m,
                        "muscle_bulk": 2,
                        "exercise_tier": tier,
                        "median_days": 100 + 20 * m,
                        "lower_days": 80 + 20 * m,
                        "upper_days": 130 + 20 * m,
                    }
                )
    return pd.DataFrame(rows)


FIGURES = {
    "survival_by_region": lambda: survival.fig_survival_by_region(_curves(), model=_curves()),
    "forest": lambda: survival.fig_forest(_ratios(), "Time ratios, lognormal AFT"),
    "funnel": lambda: complications.fig_funnel(_providers(), 1.5),
    "caterpillar": lambda: complications.fig_caterpillar(
        _providers(), "injector", 1.5, "Headache: injectors"
    ),
    "dose_risk": lambda: complications.fig_dose_risk(_dose_risk()),
    "ppc_regions": lambda: complications.fig_ppc(_ppc("region"), "region"),
    "quarterly_trends": lambda: cohort.fig_quarterly_trends(_trends()),
    "duration_by_dose": lambda: advice.fig_duration_by_dose(_advice()),
    "participant_flow": lambda: flow.fig_participant_flow(
        pd.DataFrame(
            {
                "table": ["treatments", "episodes", "duration_analysis"],
                "rows_in": [23571, 23571, 21735],
                "rows_kept": [23571, 21735, 20575],
                "rows_excluded": [0, 1836, 1160],
                "reason": ["none", "touch-ups joined their episode", "baseline severity 0"],
            }
        )
    ),
}


@pytest.fixture
def draw():
    figures: list[Figure] = []

    def _draw(name: str) -> Figure:
        with theme():
            fig = FIGURES[name]()
            fig.canvas.draw()
        figures.append(fig)
        return fig

    yield _draw
    import matplotlib.pyplot as plt

    for fig in figures:
        plt.close(fig)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_text_is_at_least_8_pt_at_print_size(draw, name):
    fig = draw(name)
    assert smallest_print_pt(fig) >= MIN_PRINT_PT - 1e-9, name


def test_smallest_print_size_scales_a_wide_figure_down(draw):
    fig = draw("forest")
    fig.set_figwidth(14.0)  # printed at half size
    assert smallest_print_pt(fig) < MIN_PRINT_PT


def test_forest_plot_prints_each_estimate_with_its_interval(draw):
    fig = draw("forest")
    texts = {t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))}
    for row in _ratios().itertuples():
        assert survival.forest_text(row.time_ratio, row.time_ratio_lower, row.time_ratio_upper) in (
            texts
        )
    assert "1.19 (1.12\u20131.26)" in texts


def test_survival_legends_name_regions_without_the_variable(draw):
    fig = draw("survival_by_region")
    labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]
    assert "crows feet" in labels and "chosen AFT model" in labels
    assert not any("=" in label for label in labels)
    model = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_label() == "chosen AFT model"]
    regions = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_label() in labels[:3]]
    assert all(ln.get_linestyle() != model[0].get_linestyle() for ln in regions)


def test_funnel_limits_are_smooth_and_bracket_the_expected_rate():
    n = np.arange(20, 3001)
    lo, hi = complications.funnel_limits(0.03, n, 0.95)
    assert np.all(lo <= 0.03) and np.all(hi >= 0.03)
    # the raw binomial quantiles jump at every integer step (saw-tooth in the rate);
    # the interpolated limits narrow monotonically with volume
    assert np.all(np.diff(hi) <= 1e-12) and np.all(np.diff(lo) >= -1e-12)


def test_dose_risk_regions_keep_one_distinct_style_across_panels():
    styles = [complications.region_style(k) for k in range(10)]
    pairs = {(s["color"], str(s["ls"])) for s in styles}
    assert len(pairs) == 10
