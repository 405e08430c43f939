"""An adversarial reader of ``reports/``: what can be worked out about every suppressed count?

Written independently of :mod:`analysis.disclosure` (it shares no code with the layer it
attacks, only the solver): it reads the released CSV tables as a reader would, takes which
injector works in which clinic from the injector table's ``clinic`` column or, when that does
not fit, works it out from the ``n_treatments`` columns (a small integer program, as the issue's
attacker did by hand), and poses one linear program over unknown fine counts:

- episodes by region x injector and 30-day events by type x region x injector, with every
  released count of the complication tables (region, clinic, injector, predictive checks, prior
  sensitivity) as a sum of them; events never exceed episodes; ``too_few_to_judge`` bounds the
  row's treatments; a shown observed rate times a shown denominator gives the events;
- the touch-up tables (region, clinic, injector, overall): episodes eligible for the touch-up
  model and their touch-ups by region x injector, touch-ups <= eligible <= all episodes;
- the cohort description: episodes and any-complication episodes by region and by quarter, the
  totals, re-treated episodes, patients; episodes with any complication are at least the events
  of each type and at most their sum;
- the data-quality table: rows in = kept + excluded, kept rows are the cohort totals (kept
  treatment rows at least the episodes: touch-ups join theirs), complication rows equal the
  30-day events (the attacker's guess; at least them otherwise);
- the survival tables: episodes in the duration analysis by every stratifying variable adding up
  to the same total, the numbers still effective (day 0 = all, never increasing);
- the clinic pages' outcome tables (by clinic, clinic x region, clinic x quarter, and the
  network's by region and overall): episodes ``J``, any-complication ``JA`` and re-treated
  ``JR`` episodes by region x clinic x quarter, whose sums over quarters are the complication
  tables' episodes by region x clinic and over clinics the quarterly trends' counts, with
  ``JA, JR <= J`` in every cell; any-complication episodes ``KA`` per region x injector (at least
  the events of each type, at most their sum and the episodes) add up to ``JA`` per region x
  clinic; a clinic's missing row is a zero. This is as much as the full cross-classification
  region x clinic x injector x quarter tells: for one region and clinic, tables over injector x
  quarter with these margins, complicated within all episodes, always exist (two
  transportation problems with equal totals), and re-treated episodes, known by quarter only,
  fit under any of them. So a cycle of shared dims cannot hide anything from this attacker.

Every suppressed cell is a variable ``>= 1`` (zero is shown). :func:`attack` returns the feasible
interval of every suppressed cell.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import highspy
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

LABEL = "suppressed"


def _num(value):
    """A shown number, or None if the cell is suppressed or empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        try:
            return float(value.replace(",", ""))
        except ValueError:
            return None
    return float(value)


def _read(reports: Path, rel: str) -> pd.DataFrame | None:
    """A released table: the Parquet copy (floats exact, as the attacker would prefer), else
    the CSV; flags as the text ``True``/``False``."""
    path = reports / rel
    parquet = path.with_suffix(".parquet")
    if parquet.exists():
        frame = pd.read_parquet(parquet).astype(object)
        return frame.map(lambda v: str(v) if isinstance(v, bool | np.bool_) else v)
    return pd.read_csv(path, dtype=str, keep_default_na=False) if path.exists() else None


class Program:
    """Named non-negative unknowns and linear (in)equalities."""

    def __init__(self):
        self.index: dict[tuple, int] = {}
        self.eq: list[tuple[dict[int, float], float]] = []
        self.ub: list[tuple[dict[int, float], float]] = []
        self.cells: list[tuple[int, str]] = []  # suppressed cell variable, where it was seen

    def var(self, *key) -> int:
        if key not in self.index:
            self.index[key] = len(self.index)
        return self.index[key]

    def terms(self, keys) -> dict[int, float]:
        out: dict[int, float] = defaultdict(float)
        for key in keys:
            out[self.var(*key)] += 1.0
        return out

    def publish(self, keys, value, where: str) -> None:
        """A released cell adding up ``keys``: its value, or (suppressed) a variable >= 1."""
        terms = self.terms(keys)
        number = _num(value)
        if number is not None:
            self.eq.append((terms, number))
            return
        cell = self.var("cell", len(self.cells), where)
        terms[cell] -= 1.0
        self.eq.append((terms, 0.0))
        self.cells.append((cell, where))
        self.ub.append(({cell: -1.0}, -1.0))

    def at_most(self, small, large) -> None:
        terms = self.terms(small)
        for k, v in self.terms(large).items():
            terms[k] -= v
        self.ub.append((terms, 0.0))

    def matrices(self):
        n = len(self.index)

        def build(rows):
            data, ri, ci, rhs = [], [], [], []
            for k, (terms, b) in enumerate(rows):
                rhs.append(b)
                for col, coef in terms.items():
                    if coef:
                        data.append(coef)
                        ri.append(k)
                        ci.append(col)
            return sparse.csr_matrix((data, (ri, ci)), shape=(len(rows), n)), np.array(rhs)

        return (*build(self.eq), *build(self.ub))

    def feasible(self) -> bool:
        a_eq, b_eq, a_ub, b_ub = self.matrices()
        res = linprog(
            np.zeros(len(self.index)), A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, method="highs"
        )
        return res.status == 0

    def intervals(self) -> pd.DataFrame:
        """The smallest and largest value of every suppressed cell: two LPs per cell on a
        HiGHS model whose objective alone changes, each solve a primal simplex from the last
        basis (a changed objective leaves it feasible: 10x faster than cold ``linprog`` solves,
        which took over 15 minutes on the tiny test cohort's reports). The cells are split into
        two blocks solved on two models in two threads (HiGHS releases the GIL)."""
        a_eq, b_eq, a_ub, b_ub = self.matrices()
        n = len(self.index)

        def solve(block: list[tuple[int, str]]) -> list[dict]:
            highs = _highs_model(a_eq, b_eq, a_ub, b_ub)
            every = np.arange(n, dtype=np.int32)
            rows = []
            for cell, where in block:
                ends = []
                for sign in (1.0, -1.0):
                    cost = np.zeros(n)
                    cost[cell] = sign
                    highs.changeColsCost(n, every, cost)
                    highs.run()
                    status = highs.getModelStatus()
                    if status == highspy.HighsModelStatus.kUnbounded:
                        ends.append(sign * -math.inf)
                    elif status == highspy.HighsModelStatus.kOptimal:
                        ends.append(sign * highs.getInfo().objective_function_value)
                    else:
                        message = highs.modelStatusToString(status)
                        raise AssertionError(f"the attacker's LP failed ({message}) at {where}")
                lo, hi = ends[0], ends[1]
                rows.append({"where": where, "lower": lo, "upper": hi, "width": hi - lo})
            return rows

        half = (len(self.cells) + 1) // 2
        with ThreadPoolExecutor(2) as pool:
            blocks = pool.map(solve, [self.cells[:half], self.cells[half:]])
            rows = [row for block in blocks for row in block]
        return pd.DataFrame(rows, columns=["where", "lower", "upper", "width"])


def _highs_model(a_eq, b_eq, a_ub, b_ub) -> highspy.Highs:
    """``a_ub @ x <= b_ub``, ``a_eq @ x = b_eq``, ``x >= 0`` in HiGHS, solved once (zero
    objective, defaults) so that every later solve starts from a basis: presolve off (it would
    discard the basis), primal simplex."""
    n = a_eq.shape[1]
    inf = highspy.kHighsInf
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    none = np.array([], dtype=np.int32)
    highs.addCols(n, np.zeros(n), np.zeros(n), np.full(n, inf), 0, none, none, np.array([]))
    rows = sparse.vstack([a_ub, a_eq], format="csr")
    lower = np.concatenate([np.full(a_ub.shape[0], -inf), b_eq])
    upper = np.concatenate([b_ub, b_eq])
    highs.addRows(
        rows.shape[0],
        lower,
        upper,
        rows.nnz,
        rows.indptr[:-1].astype(np.int32),
        rows.indices.astype(np.int32),
        rows.data.astype(float),
    )
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise AssertionError("what is released has no solution: the attacker's model is wrong")
    highs.setOptionValue("presolve", "off")
    highs.setOptionValue("simplex_strategy", 4)  # primal
    return highs


# ------------------------------------------------------------------------------------------
# Membership: which clinic each injector works in, from the n_treatments columns
# ------------------------------------------------------------------------------------------
def memberships(injectors: pd.DataFrame, clinics: pd.DataFrame, limit: int = 20):
    """Assignments of each injector to one clinic under which, for every type, the clinics'
    shown ``n_treatments`` are the sums of their injectors' (an integer program, solved again
    with each found assignment excluded); nothing if none exists (injectors working in
    several clinics)."""
    inj = sorted(injectors["injector"].unique())
    cli = sorted(clinics["clinic"].unique())
    n_of = {(r.complication, r.injector): _num(r.n_treatments) for r in injectors.itertuples()}
    nz = len(inj) * len(cli)
    rows, lo, hi = [], [], []
    for i in range(len(inj)):  # one clinic each
        row = np.zeros(nz)
        row[i * len(cli) : (i + 1) * len(cli)] = 1
        rows.append(row)
        lo.append(1)
        hi.append(1)
    for r in clinics.itertuples():
        total = _num(r.n_treatments)
        vals = [n_of.get((r.complication, i), 0.0) for i in inj]  # no row: no treatments
        if total is None or any(v is None for v in vals):
            continue
        row = np.zeros(nz)
        c = cli.index(r.clinic)
        for i, v in enumerate(vals):
            row[i * len(cli) + c] = v
        rows.append(row)
        lo.append(total)
        hi.append(total)
    for _ in range(limit):
        res = milp(
            np.zeros(nz),
            constraints=LinearConstraint(np.array(rows), lo, hi),
            integrality=np.ones(nz),
            bounds=Bounds(0, 1),
        )
        if res.status != 0:
            return
        z = np.round(res.x)
        yield {
            inj[i]: cli[int(np.argmax(z.reshape(len(inj), len(cli))[i]))] for i in range(len(inj))
        }
        rows.append(z.copy())  # exclude this assignment
        lo.append(-np.inf)
        hi.append(len(inj) - 1)


# ------------------------------------------------------------------------------------------
# The attack
# ------------------------------------------------------------------------------------------
def attack(
    reports: Path,
    min_treatments_to_judge: float | None = None,
    min_episodes_to_estimate: float | None = None,
) -> pd.DataFrame:
    """Feasible interval of every suppressed count under ``reports`` (see the module doc).

    ``min_episodes_to_estimate`` (params ``survival.turnbull_min_episodes``): what a shown
    ``too_few_to_estimate`` flag of the clinic duration table says about its count.

    The attacker tries injector-to-clinic assignments (:func:`_membership_candidates`) until
    one is consistent with everything released (the true one always is)."""
    reports = Path(reports)
    inj = _read(reports, "complications/complication_rates_by_injector.csv")
    cli = _read(reports, "complications/complication_rates_by_clinic.csv")
    for member in _membership_candidates(inj, cli):
        lp = Program()
        regions_of = _complications(reports, lp, min_treatments_to_judge, member)
        _touchups(reports, lp, min_treatments_to_judge)
        _cohort(reports, lp, regions_of)
        _survival(reports, lp)
        _clinic_durations(reports, lp, min_episodes_to_estimate)
        _clinic_outcomes(reports, lp, regions_of)
        if lp.feasible():
            return lp.intervals()
    raise AssertionError("no injector-to-clinic assignment fits what is released")


def _membership_candidates(inj: pd.DataFrame | None, cli: pd.DataFrame | None):
    """Injector-to-clinic assignments to try, most likely first: the injector table's own
    ``clinic`` column (each injector's main clinic: all of the membership when every injector
    works in one clinic), then those the ``n_treatments`` columns allow (:func:`memberships`,
    an integer program that took 12 minutes on the tiny test cohort, so it runs only when the
    column's assignment does not fit); ``None`` (any injector in any clinic) when neither
    exists."""
    if inj is None or cli is None:
        yield None
        return
    if "clinic" in inj.columns:
        yield dict(inj[["injector", "clinic"]].drop_duplicates().itertuples(index=False))
    found = False
    for member in memberships(inj, cli):
        found = True
        yield member
    if not found:
        yield None


def _complications(reports: Path, lp: Program, min_judge, member) -> dict[str, list[str]]:
    reg = _read(reports, "complications/complication_rates_by_region.csv")
    cli = _read(reports, "complications/complication_rates_by_clinic.csv")
    inj = _read(reports, "complications/complication_rates_by_injector.csv")
    if reg is None or inj is None or cli is None:
        return {}
    regions_of: dict[str, list[str]] = defaultdict(list)
    for r in reg.itertuples():
        regions_of[r.complication].append(r.region)
    injectors = sorted(inj["injector"].unique())
    clinics = sorted(cli["clinic"].unique())
    pairs = (
        [(member[i], i) for i in injectors]
        if member is not None
        else [(c, i) for c in clinics for i in injectors]
    )

    def cells(t, region=None, clinic=None, injector=None, what="E"):
        rs = [region] if region else regions_of[t]
        out = []
        for r in rs:
            for c, i in pairs:
                if (clinic is None or c == clinic) and (injector is None or i == injector):
                    out.append(("E", r, c, i) if what == "E" else ("e", t, r, c, i))
        return out

    def table(frame, name, key, events_col):
        for pos, r in enumerate(frame.to_dict("records")):
            sel = {key: r[key]}
            where = f"complications/{name}, row {pos + 1}"
            lp.publish(cells(r["complication"], **sel), r["n_treatments"], f"{where}, n_treatments")
            ev = cells(r["complication"], **sel, what="e")
            lp.publish(ev, r[events_col], f"{where}, {events_col}")
            rate, n = _num(r.get("observed_rate")), _num(r["n_treatments"])
            if _num(r[events_col]) is None and rate is not None and n is not None:
                lp.eq.append((lp.terms(ev), round(rate * n)))  # rate x denominator
            judge = r.get("too_few_to_judge")
            _judged(lp, lp.terms(cells(r["complication"], **sel)), judge, min_judge)

    table(reg, "complication_rates_by_region", "region", "n_events")
    table(cli, "complication_rates_by_clinic", "clinic", "n_events")
    table(inj, "complication_rates_by_injector", "injector", "n_events")
    bench = {(r.complication, r.region): _num(r.benchmark_rate) for r in reg.itertuples()}
    published = {
        (r.complication, r.region): float(r.benchmark_published == "True")
        for r in reg.itertuples()
        if hasattr(r, "benchmark_published")
    }
    for frame, key in ((cli, "clinic"), (inj, "injector")):
        for r in frame.to_dict("records"):  # region-mix averages: sum E (w - shown) = 0
            for col, weight in (
                ("benchmark_rate", bench),
                ("benchmark_published_share", published),
            ):
                shown = _num(r.get(col))
                if shown is None or not weight:
                    continue
                terms = {}
                for e in cells(r["complication"], **{key: r[key]}):
                    terms[lp.var(*e)] = weight[(r["complication"], e[1])] - shown
                scale = max((abs(v) for v in terms.values()), default=0.0)
                if scale > 1e-12:  # an equality, scaled: exact floats in the released files
                    lp.eq.append(({k: v / scale for k, v in terms.items()}, 0.0))
    for frame, key, values in (
        (reg, "region", None),
        (cli, "clinic", clinics),
        (inj, "injector", injectors),
    ):
        listed = set(zip(frame["complication"], frame[key], strict=True))
        for t in regions_of:  # no row: no treatments of that type there
            for v in (
                values
                if values is not None
                else sorted({x for rs in regions_of.values() for x in rs})
            ):
                if key == "region" and v not in regions_of[t]:
                    continue
                if (t, v) not in listed:
                    lp.eq.append((lp.terms(cells(t, **{key: v})), 0.0))
    for name, key in (("ppc_by_region", "region"), ("ppc_by_injector", "injector")):
        frame = _read(reports, f"complications/{name}.csv")
        if frame is not None:
            table(frame, name, key, "observed_events")
    sens = _read(reports, "complications/prior_sensitivity.csv")
    if sens is not None:
        table(sens, "prior_sensitivity", "region", "n_events")
    for t, rs in regions_of.items():  # events never exceed episodes
        for r in rs:
            for c, i in pairs:
                lp.at_most([("e", t, r, c, i)], [("E", r, c, i)])
    lp.pairs = pairs  # type: ignore[attr-defined]
    return regions_of


def _judged(lp: Program, terms: dict[int, float], judge, min_judge) -> None:
    """A shown ``too_few_to_judge`` flag bounds the count it is about."""
    if min_judge is None or judge not in ("True", "False"):
        return
    if judge == "True":
        lp.ub.append((terms, min_judge - 1))
    else:
        lp.ub.append(({k: -v for k, v in terms.items()}, -min_judge))


def _touchups(reports: Path, lp: Program, min_judge) -> None:
    """The touch-up tables: eligible episodes ``T`` and touch-ups ``t`` per region x (clinic,
    injector) pair, with ``t <= T <= E`` (the complication tables' episodes)."""
    reg = _read(reports, "complications/touchup_rates_by_region.csv")
    pairs = getattr(lp, "pairs", None)
    if reg is None or pairs is None:
        return
    regions = [str(r) for r in reg["region"]]

    def cells(what, region=None, clinic=None, injector=None):
        return [
            (what, r, c, i)
            for r in ([region] if region else regions)
            for c, i in pairs
            if (clinic is None or c == clinic) and (injector is None or i == injector)
        ]

    def table(frame, name, key):
        for pos, r in enumerate(frame.to_dict("records")):
            sel = {key: str(r[key])} if key else {}
            where = f"complications/{name}, row {pos + 1}"
            lp.publish(cells("T", **sel), r["n_treatments"], f"{where}, n_treatments")
            lp.publish(cells("t", **sel), r["n_touchups"], f"{where}, n_touchups")
            rate, n = _num(r.get("observed_rate")), _num(r["n_treatments"])
            if _num(r["n_touchups"]) is None and rate is not None and n is not None:
                lp.eq.append((lp.terms(cells("t", **sel)), round(rate * n)))  # rate x n
            _judged(lp, lp.terms(cells("T", **sel)), r.get("too_few_to_judge"), min_judge)

    table(reg, "touchup_rates_by_region", "region")
    overall = _read(reports, "complications/touchup_rate_overall.csv")
    if overall is not None:
        table(overall, "touchup_rate_overall", None)
    for key in ("clinic", "injector"):
        frame = _read(reports, f"complications/touchup_rates_by_{key}.csv")
        if frame is None:
            continue
        table(frame, f"touchup_rates_by_{key}", key)
        listed = {str(v) for v in frame[key]}
        known = {c for c, _ in pairs} if key == "clinic" else {i for _, i in pairs}
        for v in sorted(known - listed):  # no row: no eligible treatments there
            lp.eq.append((lp.terms(cells("T", **{key: v})), 0.0))
    for r in regions:
        for c, i in pairs:
            lp.at_most([("t", r, c, i)], [("T", r, c, i)])
            lp.at_most([("T", r, c, i)], [("E", r, c, i)])


def _cohort(reports: Path, lp: Program, regions_of: dict[str, list[str]]) -> None:
    pairs = getattr(lp, "pairs", [])
    by_region = _read(reports, "cohort/episodes_by_region.csv")
    all_regions = sorted({r for rs in regions_of.values() for r in rs})
    if by_region is not None:
        all_regions = sorted(set(all_regions) | set(by_region["region"]))
    if pairs:
        episodes = [("E", r, c, i) for r in all_regions for c, i in pairs]
    elif by_region is not None:
        episodes = [("E_region", r) for r in by_region["region"]]
    else:
        episodes = [("E_total",)]
    shown_regions = list(by_region["region"]) if by_region is not None else all_regions
    complicated = [("A", r) for r in shown_regions]
    if by_region is not None:
        for pos, r in enumerate(by_region.to_dict("records")):
            where = f"cohort/episodes_by_region, row {pos + 1}"
            region = r["region"]
            eps = [("E", region, c, i) for c, i in pairs] or [("E_region", region)]
            lp.publish(eps, r["n_episodes"], f"{where}, n_episodes")
            lp.publish([("A", region)], r["n_complications"], f"{where}, n_complications")
            lp.publish([("P", region)], r["n_patients"], f"{where}, n_patients")
            lp.at_most([("P", region)], eps)
            lp.at_most([("A", region)], eps)
            ev = {t: [("e", t, region, c, i) for c, i in pairs] for t, rs in regions_of.items()}
            ev = {t: e for t, e in ev.items() if region in regions_of[t]}
            for e in ev.values():  # any-complication episodes >= events of each type
                lp.at_most(e, [("A", region)])
            if ev:  # ... and <= their sum
                lp.at_most([("A", region)], [x for e in ev.values() for x in e])
    trends = _read(reports, "cohort/quarterly_trends.csv")
    if trends is not None:
        for pos, r in enumerate(trends.to_dict("records")):
            q, where = r["quarter"], f"cohort/quarterly_trends, row {pos + 1}"
            lp.publish([("Eq", q)], r["n_episodes"], f"{where}, n_episodes")
            lp.publish([("Aq", q)], r["n_complications"], f"{where}, n_complications")
            lp.publish([("Rq", q)], r["n_retreated"], f"{where}, n_retreated")
            lp.publish([("Pq", q)], r["n_patients"], f"{where}, n_patients")
            for small in ("Aq", "Rq", "Pq"):
                lp.at_most([(small, q)], [("Eq", q)])
        quarters = [("Eq", q) for q in trends["quarter"]]
        lp.eq.append((_minus(lp, quarters, episodes), 0.0))
        lp.eq.append((_minus(lp, [("Aq", q) for q in trends["quarter"]], complicated), 0.0))
        retreated = [("Rq", q) for q in trends["quarter"]]
    else:
        retreated = [("R_total",)]
    outcomes = _read(reports, "cohort/cohort_outcomes.csv")
    if outcomes is not None:
        r = outcomes.iloc[0]
        lp.publish(episodes, r["n_episodes"], "cohort/cohort_outcomes, n_episodes")
        lp.publish(complicated, r["n_complications"], "cohort/cohort_outcomes, n_complications")
        lp.publish(retreated, r["n_retreated"], "cohort/cohort_outcomes, n_retreated")
    glance = _read(reports, "cohort/cohort_at_glance.csv")
    if glance is not None:
        values = dict(zip(glance["measure"], glance["value"], strict=True))
        lp.publish(episodes, values.get("n_episodes"), "cohort/cohort_at_glance, n_episodes")
        lp.publish([("PT",)], values.get("n_patients"), "cohort/cohort_at_glance, n_patients")
    _data_quality(reports, lp, episodes, regions_of, pairs)


def _minus(lp: Program, left, right) -> dict[int, float]:
    terms = lp.terms(left)
    for k, v in lp.terms(right).items():
        terms[k] -= v
    return terms


def _data_quality(reports: Path, lp: Program, episodes, regions_of, pairs) -> None:
    dq = _read(reports, "cohort/data_quality.csv")
    if dq is None:
        return
    events = [("e", t, r, c, i) for t, rs in regions_of.items() for r in rs for c, i in pairs]
    for table, rows in dq.groupby("table", sort=False):
        first = rows.iloc[0]
        where = f"cohort/data_quality, table {table}"
        lp.publish([("dq_in", table)], first["rows_in"], f"{where}, rows_in")
        lp.publish([("dq_kept", table)], first["rows_kept"], f"{where}, rows_kept")
        parts = []
        for pos, r in enumerate(rows.to_dict("records")):
            lp.publish([("dq_ex", table, pos)], r["rows_excluded"], f"{where}, rows_excluded")
            parts.append(("dq_ex", table, pos))
        lp.eq.append((_minus(lp, [("dq_in", table)], [("dq_kept", table), *parts]), 0.0))
        if table == "episodes":
            lp.eq.append((_minus(lp, [("dq_kept", table)], episodes), 0.0))
        elif table == "treatments":  # touch-up rows join their episode: at least one a row
            lp.at_most(episodes, [("dq_kept", table)])
        elif table == "patients":
            lp.eq.append((_minus(lp, [("dq_kept", table)], [("PT",)]), 0.0))
        elif table == "complications" and events:
            lp.eq.append((_minus(lp, [("dq_kept", table)], events), 0.0))  # the guess
        elif table == "duration_analysis":
            lp.eq.append((_minus(lp, [("dq_in", table)], episodes), 0.0))
            lp.eq.append((_minus(lp, [("dq_kept", table)], [("D_total",)]), 0.0))


def _survival(reports: Path, lp: Program) -> None:
    est = _read(reports, "survival/turnbull_estimates.csv")
    med = _read(reports, "survival/median_duration_by_region.csv")
    if med is not None:
        for pos, r in enumerate(med.to_dict("records")):
            where = f"survival/median_duration_by_region, row {pos + 1}"
            lp.publish([("D", "region", r["region"])], r["n_episodes"], f"{where}, n_episodes")
            lp.publish([("DP", "region", r["region"])], r["n_patients"], f"{where}, n_patients")
            lp.at_most([("DP", "region", r["region"])], [("D", "region", r["region"])])
    if est is not None:
        groups = est.drop_duplicates(["variable", "level"])
        for r in groups.to_dict("records"):
            key = ("D", r["variable"], r["level"])
            where = f"survival/turnbull_estimates, {r['variable']}={r['level']}"
            lp.publish([key], r["n_episodes"], f"{where}, n_episodes")
        for var, rows in groups.groupby("variable"):
            levels = [("D", var, lvl) for lvl in rows["level"]]
            lp.eq.append((_minus(lp, levels, [("D_total",)]), 0.0))
    numbers = _read(reports, "survival/numbers_known_effective.csv")
    if numbers is not None:
        for region, rows in numbers.groupby("level"):
            prev = [("D", "region", region)]
            ordered = rows.sort_values("day", key=lambda d: d.astype(float))
            for r in ordered.to_dict("records"):
                key = ("K", region, r["day"])
                where = f"survival/numbers_known_effective, {region} day {r['day']}"
                lp.publish([key], r["n_known_effective"], f"{where}")
                if float(r["day"]) == 0:
                    lp.eq.append((_minus(lp, [key], [("D", "region", region)]), 0.0))
                lp.at_most([key], prev)
                prev = [key]


def _clinic_durations(reports: Path, lp: Program, min_episodes) -> None:
    """Episodes in the duration analysis per clinic x region: a missing cell is zero, the
    cells of a region add up to its network count, patients never exceed episodes, and a shown
    ``too_few_to_estimate`` flag bounds the cell."""
    table = _read(reports, "survival/median_duration_by_clinic_region.csv")
    if table is None:
        return
    for pos, r in enumerate(table.to_dict("records")):
        where = f"survival/median_duration_by_clinic_region, row {pos + 1}"
        cell = [("Dc", r["clinic"], r["region"])]
        lp.publish(cell, r["n_episodes"], f"{where}, n_episodes")
        lp.publish([("DPc", r["clinic"], r["region"])], r["n_patients"], f"{where}, n_patients")
        lp.at_most([("DPc", r["clinic"], r["region"])], cell)
        _judged(lp, lp.terms(cell), r.get("too_few_to_estimate"), min_episodes)
    for region, rows in table.groupby("region"):
        cells = [("Dc", c, region) for c in rows["clinic"]]
        lp.eq.append((_minus(lp, cells, [("D", "region", region)]), 0.0))


#: the clinic pages' outcome tables: (file, key columns, whether a missing row is a zero)
CLINIC_TABLES = (
    ("clinic_outcomes", ("clinic",), True),
    ("clinic_outcomes_by_region", ("clinic", "region"), True),
    ("clinic_outcomes_by_quarter", ("clinic", "quarter"), True),
    ("network_outcomes", (), False),
    ("network_outcomes_by_region", ("region",), False),
)
#: count column -> unknowns by region x clinic x quarter it adds up
CLINIC_COUNTS = {"n_episodes": "J", "n_complications": "JA", "n_retreated": "JR"}


def _clinic_outcomes(reports: Path, lp: Program, regions_of: dict[str, list[str]]) -> None:
    """The clinic outcome tables over episodes ``J``, complicated ``JA`` and re-treated ``JR``
    episodes by region x clinic x quarter, tied to the unknowns of the other tables (see the
    module docstring)."""
    frames = {name: _read(reports, f"cohort/{name}.csv") for name, _, _ in CLINIC_TABLES}
    if all(f is None for f in frames.values()):
        return
    trends = _read(reports, "cohort/quarterly_trends.csv")
    by_quarter = frames["clinic_outcomes_by_quarter"]
    quarters = sorted({str(q) for f in (trends, by_quarter) if f is not None for q in f["quarter"]})
    pairs = getattr(lp, "pairs", None)
    clinics = sorted({c for c, _ in pairs} if pairs else set(frames["clinic_outcomes"]["clinic"]))
    regions = sorted(
        {r for rs in regions_of.values() for r in rs}
        | {str(r) for f in frames.values() if f is not None and "region" in f for r in f["region"]}
    )
    cells = [(r, c, q) for r in regions for c in clinics for q in quarters]

    def select(kind: str, **key: str) -> list[tuple]:
        pos = {"region": 0, "clinic": 1, "quarter": 2}
        return [(kind, *x) for x in cells if all(x[pos[k]] == v for k, v in key.items())]

    levels = {"clinic": clinics, "region": regions, "quarter": quarters}
    for name, keys, complete in CLINIC_TABLES:
        frame = frames[name]
        if frame is None:
            continue
        for pos, r in enumerate(frame.to_dict("records")):
            key = {k: str(r[k]) for k in keys}
            for col, kind in CLINIC_COUNTS.items():
                lp.publish(select(kind, **key), r[col], f"cohort/{name}, row {pos + 1}, {col}")
        if complete and keys:
            listed = {tuple(str(r[k]) for k in keys) for r in frame.to_dict("records")}
            for combo in itertools.product(*(levels[k] for k in keys)):
                if combo not in listed:  # no row: no treatments there
                    zero = select("J", **dict(zip(keys, combo, strict=True)))
                    lp.eq.append((lp.terms(zero), 0.0))
    for cell in cells:
        lp.at_most([("JA", *cell)], [("J", *cell)])
        lp.at_most([("JR", *cell)], [("J", *cell)])
    if pairs:  # the complication tables' episodes and events
        for r in regions:
            for c in clinics:
                injectors = [i for cc, i in pairs if cc == c]
                episodes = [("E", r, c, i) for i in injectors]
                lp.eq.append((_minus(lp, select("J", region=r, clinic=c), episodes), 0.0))
                per_injector = [("KA", r, c, i) for i in injectors]
                lp.eq.append((_minus(lp, select("JA", region=r, clinic=c), per_injector), 0.0))
                for i in injectors:
                    events = [[("e", t, r, c, i)] for t, rs in regions_of.items() if r in rs]
                    for e in events:
                        lp.at_most(e, [("KA", r, c, i)])
                    if events:
                        lp.at_most([("KA", r, c, i)], [x for e in events for x in e])
                    lp.at_most([("KA", r, c, i)], [("E", r, c, i)])
    if trends is not None:  # the network's quarters
        for q in quarters:
            for kind, total in (("J", "Eq"), ("JA", "Aq"), ("JR", "Rq")):
                lp.eq.append((_minus(lp, select(kind, quarter=q), [(total, q)]), 0.0))
    if _read(reports, "cohort/episodes_by_region.csv") is not None:
        for r in regions:
            lp.eq.append((_minus(lp, select("JA", region=r), [("A", r)]), 0.0))
