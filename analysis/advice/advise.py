"""Re-treatment interval advice: the Python function behind `bonta advise`.

The tool advises *intervals*, not units: dose guidance is out of scope. Given the planned
treatment (region, product, units, muscle bulk, exercise load, sex, age) and optionally the
patient's past episodes, it returns the predicted duration (median and central interval), the
probability that the effect still holds at 8/12/16/20 weeks (with the 80% credible interval of
that probability over the posterior), and a booking window from when the predicted probability
of wear-off passes 50% to when it passes 80%, never earlier than the label's 90-day minimum
interval (and it says so when that floor binds). It also says how a touch-up at the
two-week check changes the expected duration (issue 14): the posterior time ratio of the
``touchup`` term, at the same total dose.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from analysis.advice.config import AdviceConfig
from analysis.advice.predict import PosteriorDraws, frailty_grid, predictive, weighted_quantile
from analysis.advice.spec import AdviceSpec, check_categories, log2_rel_dose, out_of_range
from analysis.errors import AdviceInputError
from analysis.survival.covariates import COVARIATE_COLUMNS, TOUCHUP, TOUCHUP_COLUMN
from analysis.survival.families import surv_std

SCOPE_NOTE = "This tool advises re-treatment intervals, not units: dose guidance is out of scope."
METHOD_NOTE = (
    "Bayesian interval-censored AFT model with a patient frailty; the patient's history updates "
    "the frailty by 1-D quadrature per posterior draw, with draws importance-weighted by the "
    "history's likelihood."
)


class AdviceExtrapolationWarning(UserWarning):
    """The request lies outside the covariate range the model was trained on."""


@dataclass(frozen=True)
class PastEpisode:
    """One past treatment of the patient and what was seen of its duration.

    ``lower_days < duration <= upper_days``; ``upper_days = inf`` means the effect was still
    present when last seen (censored); ``lower_days == upper_days`` is an exact (e.g.
    patient-reported) wear-off day. Covariates left ``None`` are taken from the request.
    """

    region: str
    product: str
    units: float
    lower_days: float
    upper_days: float
    treatment_date: dt.date | None = None
    muscle_bulk: float | None = None
    exercise_met_h_week: float | None = None
    baseline_severity: float | None = None
    touchup: bool = False  # adjusted at its two-week check (``units`` = the total)

    @classmethod
    def from_assessments(
        cls,
        region: str,
        product: str,
        units: float,
        visits: list[tuple[float, float]],
        baseline_severity: float,
        **kwargs,
    ) -> PastEpisode:
        """Derive the interval from ``(visit_day, severity)`` pairs (docs/ARCHITECTURE.md rule).

        ``lower`` = last visit day still below baseline severity (0 if none); ``upper`` = first
        visit day back at baseline; none back at baseline -> censored at ``lower``.
        """
        lower, upper = 0.0, np.inf
        for day, severity in sorted(visits):
            if severity >= baseline_severity:
                upper = float(day)
                break
            lower = float(day)
        return cls(
            region, product, units, lower, upper, baseline_severity=baseline_severity, **kwargs
        )


@dataclass(frozen=True)
class AdviceRequest:
    """The planned treatment. ``cycle`` defaults to 1 + past episodes in the same region.

    ``touchup``: the treatment was (or will be) adjusted at its two-week check; ``units`` is
    then the total including the touch-up's units.
    """

    region: str
    product: str
    units: float
    muscle_bulk: float
    exercise_met_h_week: float
    sex: str
    age_years: float
    baseline_severity: float = 2.0
    cycle: int | None = None
    treatment_date: dt.date | None = None
    history: tuple[PastEpisode, ...] = field(default_factory=tuple)
    touchup: bool = False


@dataclass(frozen=True)
class Advice:
    """Interval advice for one planned treatment (all times in days since the treatment)."""

    region: str
    product: str
    median_days: float
    interval_lower_days: float
    interval_upper_days: float
    interval_mass: float
    survival: pd.DataFrame  # week, day, prob_effect_holds, prob_lower, prob_upper
    booking_start_days: float
    booking_end_days: float
    wearoff_50_days: float
    wearoff_80_days: float
    floor_days: float
    floor_binds: bool
    booking_start_date: dt.date | None
    booking_end_date: dt.date | None
    personalised: bool
    n_history: int
    history_ess: float
    family: str
    warnings: tuple[str, ...]
    #: posterior time ratio of a touch-up at the same total dose: median, 95% CrI
    touchup_time_ratio: tuple[float, float, float] = (np.nan, np.nan, np.nan)
    touchup: bool = False  # the request was an adjusted treatment
    scope_note: str = SCOPE_NOTE
    method_note: str = METHOD_NOTE

    def to_dict(self) -> dict:
        """JSON-ready dict (dates as ISO strings, survival as a list of records)."""
        d = asdict(self)
        d["survival"] = self.survival.to_dict(orient="records")
        d["warnings"] = list(self.warnings)
        for key in ("booking_start_date", "booking_end_date"):
            d[key] = d[key].isoformat() if d[key] else None
        return d

    def to_text(self) -> str:
        """The advice as an injector reads it."""
        return render_text(self)


# ------------------------------------------------------------------------------ requests
def _request_rows(request: AdviceRequest, spec: AdviceSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Covariate rows of the planned episode and of the history (with duration bounds)."""
    _check_request(request, spec)
    hist_rows = []
    past_counts: dict[str, int] = {}
    history = sorted(
        request.history,
        key=lambda e: (e.treatment_date is None, e.treatment_date or dt.date.min),
    )
    for j, ep in enumerate(history, start=1):
        _check_past(ep, spec, j)
        past_counts[ep.region] = past_counts.get(ep.region, 0) + 1
        age = request.age_years
        if ep.treatment_date and request.treatment_date:
            age -= (request.treatment_date - ep.treatment_date).days / 365.25
        hist_rows.append(
            {
                "region": ep.region,
                "product": ep.product,
                "log2_rel_dose": log2_rel_dose(spec, ep.region, ep.product, ep.units),
                "muscle_bulk": _or(ep.muscle_bulk, request.muscle_bulk),
                "exercise_met_h_week": _or(ep.exercise_met_h_week, request.exercise_met_h_week),
                "sex": request.sex,
                "age_years": age,
                "cycle": past_counts[ep.region],
                "baseline_severity": _or(ep.baseline_severity, request.baseline_severity),
                TOUCHUP_COLUMN: bool(ep.touchup),
                "dur_lower_days": float(ep.lower_days),
                "dur_upper_days": float(ep.upper_days),
            }
        )
    cycle = request.cycle or past_counts.get(request.region, 0) + 1
    new = pd.DataFrame(
        [
            {
                "region": request.region,
                "product": request.product,
                "log2_rel_dose": log2_rel_dose(
                    spec, request.region, request.product, request.units
                ),
                "muscle_bulk": request.muscle_bulk,
                "exercise_met_h_week": request.exercise_met_h_week,
                "sex": request.sex,
                "age_years": request.age_years,
                "cycle": cycle,
                "baseline_severity": request.baseline_severity,
                TOUCHUP_COLUMN: bool(request.touchup),
            }
        ]
    )
    columns = list(COVARIATE_COLUMNS) + [TOUCHUP_COLUMN, "dur_lower_days", "dur_upper_days"]
    return new, pd.DataFrame(hist_rows, columns=columns)


def _or(value, default):
    return default if value is None else value


def _check_request(request: AdviceRequest, spec: AdviceSpec) -> None:
    row = pd.DataFrame(
        [{c: getattr(request, c, None) for c in COVARIATE_COLUMNS if c != "log2_rel_dose"}]
    )
    row["log2_rel_dose"] = 0.0
    row["cycle"] = request.cycle or 1
    check_categories(row, spec, source="request")
    rules = (
        ("units", request.units, request.units > 0, "must be > 0"),
        ("muscle_bulk", request.muscle_bulk, 1 <= request.muscle_bulk <= 4, "must be 1-4"),
        (
            "exercise_met_h_week",
            request.exercise_met_h_week,
            request.exercise_met_h_week >= 0,
            "must be >= 0",
        ),
        ("age_years", request.age_years, 0 < request.age_years < 120, "must be in (0, 120)"),
        (
            "baseline_severity",
            request.baseline_severity,
            1 <= request.baseline_severity <= 3,
            "must be 1-3 (0 means nothing to wear off)",
        ),
    )
    for column, value, ok, rule in rules:
        if not ok:
            raise AdviceInputError(f"request, column '{column}', value {value!r}: {rule}")


def _check_past(ep: PastEpisode, spec: AdviceSpec, j: int) -> None:
    src = f"history, episode {j}"
    for col, levels in (("region", spec.regions), ("product", spec.products)):
        value = getattr(ep, col)
        if value not in levels:
            raise AdviceInputError(
                f"{src}, column '{col}', value {value!r}: must be one of {', '.join(levels)}"
            )
    if not ep.units > 0:
        raise AdviceInputError(f"{src}, column 'units', value {ep.units!r}: must be > 0")
    lo, up = float(ep.lower_days), float(ep.upper_days)
    if not (np.isfinite(lo) and lo >= 0 and not np.isnan(up) and up >= lo and (up > 0)):
        raise AdviceInputError(
            f"{src}, columns 'lower_days'/'upper_days', values ({lo!r}, {up!r}): need "
            "0 <= lower <= upper, upper > 0 (upper may be inf when the effect was still present)"
        )


# ---------------------------------------------------------------------------------- advice
def predictive_law(request: AdviceRequest, draws: PosteriorDraws, config: AdviceConfig):
    """The predictive law of the planned episode's duration behind :func:`advise`.

    Same checks and personalisation as :func:`advise` (no extrapolation warning); returns the
    :class:`~analysis.advice.predict.Predictive` mixture, whose ``survival(days)`` and
    ``quantile(probs)`` give any point of the curve (`bonta serve` draws the patient's curve and
    plans event dates from it).
    """
    new, hist = _request_rows(request, draws.spec)
    return predictive(draws, new, hist if len(hist) else None, n_nodes=config.quadrature_nodes)


def population_survival(
    episodes: pd.DataFrame,
    draws: PosteriorDraws,
    days: np.ndarray,
    max_draws: int = 100,
    n_nodes: int = 21,
) -> np.ndarray:
    """Population predictive P(effect holds at ``days``) of each episode (no history).

    The same law as :func:`advise` without history (frailty integrated; exactly for the
    log-normal, on ``n_nodes`` grid points otherwise), for many episodes at once: rows with the
    covariate columns of the processed episodes (``region, product, units, muscle_bulk,
    exercise_met_h_week, sex, age_years, cycle, baseline_severity``; the relative dose is
    recomputed from ``units`` with the stored spec). Uses every k-th posterior draw up to
    ``max_draws`` (a group's mean curve needs few). Returns shape ``(n_episodes, len(days))``.
    """
    spec = draws.spec
    rows = episodes.copy()
    conv = rows["product"].astype(str).map(spec.units_per_ona_unit).to_numpy(float)
    ref = rows["region"].astype(str).map(spec.reference_dose_units).to_numpy(float)
    rows["log2_rel_dose"] = np.log2(rows["units"].to_numpy(float) / conv / ref)
    step = max(1, draws.n_draws // max_draws)
    sub = slice(None, None, step)
    eta = draws.linear_predictor(rows[list(COVARIATE_COLUMNS)])[sub]  # (S, n)
    sigma, tau = draws.sigma[sub], draws.tau[sub]
    with np.errstate(divide="ignore"):  # day 0: log 0 = -inf, S = 1
        log_t = np.log(np.asarray(days, dtype=float))
    if draws.family == "lognormal":
        nodes, weights = np.zeros(1), np.ones(1)
        scale = np.hypot(sigma, tau)
        tau_eff = np.zeros_like(tau)
    else:
        nodes, weights = frailty_grid(n_nodes)
        scale, tau_eff = sigma, tau
    out = np.zeros((eta.shape[1], log_t.size))
    for z, w in zip(nodes, weights, strict=True):
        loc = eta + (tau_eff * z)[:, None]  # (S, n)
        std = (log_t[None, None, :] - loc[:, :, None]) / scale[:, None, None]
        out += w * surv_std(std, draws.family).mean(axis=0)
    return out


def advise(
    request: AdviceRequest,
    draws: PosteriorDraws,
    config: AdviceConfig,
    n_nodes: int = 61,
) -> Advice:
    """Interval advice for one planned treatment.

    Raises :class:`AdviceInputError` for an unknown region/product/sex or an impossible value;
    warns (:class:`AdviceExtrapolationWarning`, also listed in ``Advice.warnings``) when an
    input lies outside the trained range.
    """
    new, hist = _request_rows(request, draws.spec)
    notes = out_of_range(new.iloc[0], draws.spec)
    for j in range(len(hist)):
        notes += [f"history episode {j + 1}: {n}" for n in out_of_range(hist.iloc[j], draws.spec)]
    if notes:
        warnings.warn(
            "advice is an extrapolation: " + "; ".join(notes),
            AdviceExtrapolationWarning,
            stacklevel=2,
        )
    pred = predictive(draws, new, hist if len(hist) else None, n_nodes=n_nodes)
    tail = (1.0 - config.interval_mass) / 2.0
    p50, p80 = config.booking_probs
    q = pred.quantile([0.5, tail, 1.0 - tail, p50, p80])
    floor = config.label_min_interval_days
    start, end = max(q[3], floor), max(q[4], floor)
    dates: tuple[dt.date | None, dt.date | None] = (None, None)
    if request.treatment_date:
        dates = (
            request.treatment_date + dt.timedelta(days=int(round(start))),
            request.treatment_date + dt.timedelta(days=int(round(end))),
        )
    return Advice(
        region=request.region,
        product=request.product,
        median_days=float(q[0]),
        interval_lower_days=float(q[1]),
        interval_upper_days=float(q[2]),
        interval_mass=config.interval_mass,
        survival=survival_table(pred, config),
        booking_start_days=float(start),
        booking_end_days=float(end),
        wearoff_50_days=float(q[3]),
        wearoff_80_days=float(q[4]),
        floor_days=floor,
        floor_binds=bool(q[3] < floor),
        booking_start_date=dates[0],
        booking_end_date=dates[1],
        personalised=pred.personalised,
        n_history=pred.n_history,
        history_ess=pred.weight_ess,
        family=draws.family,
        warnings=tuple(["advice is an extrapolation: " + n for n in notes]),
        touchup_time_ratio=touchup_time_ratio(draws),
        touchup=bool(request.touchup),
    )


def touchup_time_ratio(draws: PosteriorDraws) -> tuple[float, float, float]:
    """Posterior median and 95% interval of ``exp(beta[touchup])``: how much longer (>1) or
    shorter the effect lasts when the treatment is adjusted at its two-week check, at the same
    total dose. In an AFT model every quantile of the duration scales by this factor. NaN if
    the stored model has no touch-up term."""
    names = draws.spec.covariate_names
    if TOUCHUP not in names:
        return (np.nan, np.nan, np.nan)
    ratio = np.exp(draws.beta[:, names.index(TOUCHUP)])
    lo, med, hi = np.quantile(ratio, [0.025, 0.5, 0.975])
    return (float(med), float(lo), float(hi))


def touchup_sentence(advice: Advice) -> str | None:
    """How a touch-up changes the expected duration, in the injector's words (or ``None``)."""
    med, lo, hi = advice.touchup_time_ratio
    if not np.isfinite(med):
        return None
    ratio = f"{med:.2f} (95% credible interval {lo:.2f}-{hi:.2f})"
    if advice.touchup:
        return (
            f"Touch-up: included; at the same total dose an adjusted treatment lasts {ratio} "
            "times as long as one given at once (the units above include the touch-up's)."
        )
    return (
        "Touch-up: adjusting this treatment at the two-week check would multiply the expected "
        f"duration by {ratio} at the same total dose (median about "
        f"{advice.median_days * med:.0f} days); the touch-up's own units add their dose effect "
        "on top."
    )


def survival_table(pred, config: AdviceConfig) -> pd.DataFrame:
    """P(effect still holds) at the configured weeks, with its 80% credible interval."""
    days = np.asarray(config.survival_weeks, dtype=float) * 7.0
    by_draw, draw_w = pred.survival_by_draw(days)
    ok = draw_w > 0
    lo, hi = weighted_quantile(by_draw[ok], draw_w[ok], np.array([0.1, 0.9]))
    return pd.DataFrame(
        {
            "week": list(config.survival_weeks),
            "day": days,
            "prob_effect_holds": pred.survival(days),
            "prob_lower": lo,
            "prob_upper": hi,
        }
    )


def render_text(advice: Advice) -> str:
    """Human-readable advice."""
    a = advice
    pct = int(round(100 * a.interval_mass))
    basis = (
        f"personalised on {a.n_history} past episode(s)"
        if a.personalised
        else "population prediction (no past episodes given)"
    )
    lines = [
        f"Re-treatment interval advice: {a.region}, {a.product} ({basis})",
        f"  Predicted duration of effect: median {a.median_days:.0f} days "
        f"({a.median_days / 7:.1f} weeks); {pct}% interval {a.interval_lower_days:.0f}-"
        f"{a.interval_upper_days:.0f} days",
        "  Probability the effect still holds:",
    ]
    for r in a.survival.itertuples():
        lines.append(
            f"    week {r.week:>2} (day {r.day:.0f}): {100 * r.prob_effect_holds:.0f}% "
            f"(80% credible interval {100 * r.prob_lower:.0f}-{100 * r.prob_upper:.0f}%)"
        )
    window = f"day {a.booking_start_days:.0f} to day {a.booking_end_days:.0f}"
    if a.booking_start_date and a.booking_end_date:
        window += f" ({a.booking_start_date.isoformat()} to {a.booking_end_date.isoformat()})"
    lines.append(f"  Recommended booking window: {window}")
    if a.floor_binds:
        lines.append(
            f"  Note: the label's minimum re-treatment interval of {a.floor_days:.0f} days binds: "
            f"the effect is predicted to have worn off for half of similar patients by day "
            f"{a.wearoff_50_days:.0f}, but re-treatment is not advised before day "
            f"{a.floor_days:.0f}."
        )
    touchup = touchup_sentence(a)
    if touchup:
        lines.append(f"  {touchup}")
    for w in a.warnings:
        lines.append(f"  WARNING: {w}")
    lines.append(f"  {a.scope_note}")
    return "\n".join(lines)
