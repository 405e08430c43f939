"""Primary and secondary cell suppression with a linear-programming audit.

Method (Hundepool et al. 2012, *Statistical Disclosure Control*, ch. 4; the model of Fischetti
and Salazar-González 1999 solved one primary cell at a time, as in the sequential heuristic of
Kelly, Golden and Assad 1992):

1. **Primary**: every count in ``1 .. min_count-1`` is suppressed.
2. **Audit** of a suppressed cell: the smallest and largest value it can take given everything
   released (:meth:`LinkedTables.interval`). It is protected when ``max - min >=
   protection_width``, or (a secondary cell) when it provably is not a small count (``min >=
   min_count``): a reader cannot tell primary from secondary cells, so every suppressed cell
   that could be small must keep a wide interval.
3. **Complement** for an unprotected cell: a second LP lets every released count of at least
   ``min_count`` move away from its value at a cost per unit (1; a grand total costs
   ``total_cost``) and asks for the cheapest moves that let the cell reach ``min +
   protection_width``. The counts that had to move are suppressed (secondary). Suppressing
   only removes constraints, so a cell once protected stays protected; the cells are processed
   in a fixed order and the final audit repeats step 2 for every primary cell.

No Python package implements secondary suppression of linked tables (ACRO applies primary
suppression only; sdcTable and tau-ARGUS are R and Java/C++), hence this module, on
HiGHS (``scipy.optimize.linprog``).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from analysis.disclosure.config import DisclosureConfig
from analysis.disclosure.lp import OPTIMAL, AuditLP
from analysis.disclosure.model import (
    PRIMARY,
    SECONDARY,
    SHOWN,
    DisclosureError,
    LinkedTables,
    _linprog,
)

_MOVED = 1e-6


@dataclass(frozen=True)
class Protection:
    """The outcome: ``status`` per cell (SHOWN, PRIMARY, SECONDARY) and the final audit.

    ``audit`` has one row per audited suppressed cell: ``cell``, ``primary``, ``lower``,
    ``upper``, ``width`` (the attacker's feasible interval; ``inf`` when unbounded); the cells
    it leaves out (``n_certified``) have intervals provably wider than every row's that matters
    (:func:`certified_audit`).
    """

    status: np.ndarray
    audit: pd.DataFrame
    n_lp: int
    #: suppressed cells whose interval the final audit certified wide enough from feasible
    #: points already seen, without solving it (not in ``audit``: :func:`certified_audit`)
    n_certified: int = 0

    @property
    def n_primary(self) -> int:
        return int((self.status == PRIMARY).sum())

    @property
    def n_secondary(self) -> int:
        return int((self.status == SECONDARY).sum())

    def min_width(self, min_count: int) -> float:
        """Narrowest feasible interval of a suppressed cell that could be a small count (its
        interval reaches below ``min_count``); NaN if there is none."""
        could_be_small = self.audit.loc[self.audit["lower"] < min_count - _MOVED]
        if not len(could_be_small):
            return math.nan
        # to the LP's tolerance: the simplex ends a width of 5 at 4.9999999999 or 5.0000000001
        return round(float(could_be_small["width"].min()), 6)


class ComplementError(DisclosureError):
    """No set of released counts can be withheld to protect a suppressed count."""


def primary_status(model: LinkedTables, min_count: int) -> np.ndarray:
    """SHOWN, or PRIMARY for counts in ``1 .. min_count-1``."""
    small = (model.values >= 1 - 1e-9) & (model.values < min_count - 1e-9)
    return np.where(small, PRIMARY, SHOWN)


def protect(model: LinkedTables, config: DisclosureConfig) -> Protection:
    """Suppress small counts and their complements until no suppressed count can be narrowed.

    Every primary cell must end with a feasible interval at least ``protection_width`` wide;
    so must every secondary cell whose interval reaches below ``min_count`` (a reader cannot
    tell it from a primary one). Cells are processed in a fixed order: primary cells first
    (those a mix weighs before the others), then complements as they are added.

    Raises
    ------
    DisclosureError
        When a suppressed count cannot be protected by suppressing released counts (naming
        where it appears, never its value).
    """
    status = primary_status(model, config.min_count)
    # cells a mix weighs first: when a mix pins a small count so that no complement can protect
    # it, the release fails (and release() retries without mixes) after a few LPs, not hundreds
    primary = [int(c) for c in np.flatnonzero(status == PRIMARY)]
    pending = sorted(primary, key=lambda c: not model.touches_mix(c))
    n_lp = 0
    model.reset_seen()
    lp = ComplementLP(model, config)
    with ThreadPoolExecutor(1) as pool:  # each check's minimum beside its maximum
        while pending:
            cell = int(pending.pop(0))
            for _ in range(50):
                if model.certify and model.seen_width(cell) >= config.protection_width - _MOVED:
                    break  # two feasible points already lie that far apart: no LP needed
                ok, lower = _protected(model, status, cell, config, pool)
                n_lp += 2
                if ok:
                    break
                target = lower + config.protection_width
                moved = complement(model, status, cell, target, config, lp)
                n_lp += 1
                status[moved] = SECONDARY
                pending += [int(c) for c in moved]
            else:
                raise DisclosureError(f"{model.cells[cell].where()}: protection did not converge")
    if model.certify:
        audit, certified = certified_audit(model, status, config), True
    else:
        audit, certified = audit_cells(model, status), False
    return Protection(
        status=status,
        audit=audit,
        n_lp=n_lp + 2 * len(audit),
        n_certified=int((status != SHOWN).sum()) - len(audit) if certified else 0,
    )


def _protected(
    model: LinkedTables,
    status: np.ndarray,
    cell: int,
    config: DisclosureConfig,
    pool: ThreadPoolExecutor,
) -> tuple[bool, float]:
    """(protected?, smallest feasible value) of suppressed cell ``cell``. Both bounds are
    solved at once on two HiGHS models (most cells need both; the maximum alone settles a
    cell whose true value is at least ``protection_width`` below it)."""
    width = config.protection_width
    lower, upper = model.interval(cell, status, pool=pool)
    if upper >= model.values[cell] + width - _MOVED:
        return True, lower  # the true value is feasible, so min <= value
    if upper - lower >= width - _MOVED:
        return True, lower
    if status[cell] == SECONDARY and lower >= config.min_count - _MOVED:
        return True, lower  # provably not a small count
    return False, lower


#: The final audit splits the suppressed cells into this many contiguous blocks, each solved in
#: order on its own warm-started HiGHS model in its own thread (HiGHS releases the GIL: 2 LPs
#: at once on 2 cores). A constant, not the core count: each block's sequence of warm starts,
#: hence every audited bound to the last digit, is the same on every machine.
AUDIT_BLOCKS = 2


def certified_audit(
    model: LinkedTables, status: np.ndarray, config: DisclosureConfig
) -> pd.DataFrame:
    """The final audit's rows: the feasible interval of every suppressed cell that could fail
    or be the narrowest, solved; the others certified by the points seen during protection
    (:meth:`LinkedTables.seen_width`, a lower bound on each interval's width).

    Solved: every cell seen less than ``protection_width`` wide (it could fail the audit), then
    the others from the narrowest seen width up, until the next one's seen width reaches the
    narrowest solved width of a count that could be small. Every cell left out therefore has an
    interval at least ``protection_width`` wide and no narrower than that narrowest one: the
    audit's verdict and :meth:`Protection.min_width` are those of solving every cell."""
    suppressed = np.flatnonzero(status != SHOWN)
    seen = np.asarray(model.seen_width(suppressed), dtype=float)
    narrow = seen < config.protection_width - _MOVED
    audit = audit_cells(model, status, suppressed[narrow])
    rows = [audit]
    best = _narrowest(audit, config.min_count)
    wide_cells, wide_seen = suppressed[~narrow], seen[~narrow]
    for k in np.argsort(wide_seen, kind="stable"):
        if wide_seen[k] >= best:
            break  # every cell from here on is at least this wide
        row = audit_cells(model, status, wide_cells[k : k + 1])
        rows.append(row)
        best = min(best, _narrowest(row, config.min_count))
    solved = [r for r in rows if len(r)]
    return pd.concat(solved, ignore_index=True) if len(solved) > 1 else (solved or rows)[0]


def _narrowest(audit: pd.DataFrame, min_count: int) -> float:
    """Narrowest interval of the audited cells that could be a small count; inf if none (the
    audit's running bound; :meth:`Protection.min_width` says NaN then, and rounds)."""
    could_be_small = audit["lower"] < min_count - _MOVED
    return float(audit.loc[could_be_small, "width"].min()) if could_be_small.any() else math.inf


def audit_cells(
    model: LinkedTables, status: np.ndarray, cells: np.ndarray | None = None
) -> pd.DataFrame:
    """The attacker's feasible interval of every suppressed cell (or of ``cells``) given what
    ``status`` releases (``primary``: whether the cell is a small count)."""
    chosen = np.flatnonzero(status != SHOWN) if cells is None else np.asarray(cells, dtype=int)
    blocks = np.array_split(chosen, AUDIT_BLOCKS)

    def audit(slot: int) -> list[dict]:
        rows = []
        for cell in blocks[slot]:
            lower, upper = model.interval(cell, status, slot)
            rows.append(
                {
                    "cell": int(cell),
                    "primary": bool(status[cell] == PRIMARY),
                    "lower": lower,
                    "upper": upper,
                    "width": upper - lower,
                }
            )
        return rows

    with ThreadPoolExecutor(AUDIT_BLOCKS) as pool:
        rows = [row for block in pool.map(audit, range(AUDIT_BLOCKS)) for row in block]
    return pd.DataFrame(rows, columns=["cell", "primary", "lower", "upper", "width"])


class ComplementLP:
    """The complement LP of every call of one :func:`protect` run on one warm-started HiGHS
    model (:class:`~analysis.disclosure.lp.AuditLP`).

    Columns: the audit's unknowns ``x``, then ``d+`` and ``d-`` for every count of at least
    ``min_count`` (the set is fixed: a count below it is always suppressed), with the rows
    ``y_c - d+_c + d-_c = value_c``. Between calls only costs and bounds change: a released
    count's moves cost its weight, a suppressed count's cost nothing (its row then binds
    nothing, as if it were absent), and the cell to protect gets its target as lower bound.
    Built from scratch per call (``LinkedTables.solver == "linprog"``, the previous method),
    the LPs of the demo's release took 126 of the disclose stage's 160 s.
    """

    def __init__(self, model: LinkedTables, config: DisclosureConfig) -> None:
        self.model = model
        self.candidates = np.flatnonzero(model.values >= config.min_count)
        k, n = len(self.candidates), model.n
        cols = model.n_x + self.candidates
        link = sparse.hstack(
            [
                sparse.csr_matrix((np.ones(k), (np.arange(k), cols)), shape=(k, n)),
                -sparse.identity(k, format="csr"),
                sparse.identity(k, format="csr"),
            ],
            format="csr",
        )
        pad = sparse.csr_matrix((model.a_eq.shape[0], 2 * k))
        self.a_eq = sparse.vstack([sparse.hstack([model.a_eq, pad]), link], format="csr")
        self.b_eq = np.concatenate([model.b_eq, model.values[self.candidates]])
        self.a_ub = sparse.hstack(
            [model.a_ub, sparse.csr_matrix((model.a_ub.shape[0], 2 * k))], format="csr"
        )
        self.weight = np.array(
            [config.total_cost if model.cells[c].is_total else 1.0 for c in self.candidates],
            dtype=float,
        )
        self._lp: AuditLP | None = None

    def problem(
        self, status: np.ndarray, cell: int, target: float
    ) -> tuple[np.ndarray, list[tuple[float | None, float | None]]]:
        """Cost vector and bounds of the LP that lets ``cell`` reach ``target``."""
        model, k = self.model, len(self.candidates)
        shown = status[self.candidates] == SHOWN
        bounds = model.bounds(status)
        for c in self.candidates[shown]:
            bounds[model.n_x_of(c)] = (1.0, None)
        low, high = bounds[model.n_x_of(cell)]
        bounds[model.n_x_of(cell)] = (max(low or 0.0, target), high)
        bounds += [(0.0, None)] * (2 * k)
        moved = np.where(shown, self.weight, 0.0)
        return np.concatenate([np.zeros(model.n), moved, moved]), bounds

    def moves(self, status: np.ndarray, cell: int, target: float) -> tuple[int, str, np.ndarray]:
        """``(status, message, |d+| + |d-| per candidate)`` of the cheapest moves."""
        cost, bounds = self.problem(status, cell, target)
        n, k = self.model.n, len(self.candidates)
        if self.model.solver == "linprog":
            res = _linprog(cost, self.a_ub, self.model.b_ub, self.a_eq, self.b_eq, bounds)
            x = res.x if res.status == OPTIMAL else None
            code, message = res.status, str(res.message)
        else:
            if self._lp is None:
                self._lp = AuditLP(self.a_ub, self.model.b_ub, self.a_eq, self.b_eq)
            lower = np.array([-math.inf if lo is None else lo for lo, _ in bounds], dtype=float)
            upper = np.array([math.inf if hi is None else hi for _, hi in bounds], dtype=float)
            code, _ = self._lp.minimise(cost, lower, upper)
            x = self._lp.solution() if code == OPTIMAL else None
            message = self._lp.message()
        if x is None:
            return code, message, np.zeros(k)
        return code, message, x[n : n + k] + x[n + k :]


def complement(
    model: LinkedTables,
    status: np.ndarray,
    cell: int,
    target: float,
    config: DisclosureConfig,
    lp: ComplementLP | None = None,
) -> np.ndarray:
    """Released counts to suppress so that ``cell`` can reach ``target`` (cheapest LP moves).

    Every released count of at least ``min_count`` may move by ``d+ - d-`` (staying ``>= 1``,
    all a reader would know of it once suppressed) at cost ``(d+ + d-) * weight``. ``lp``: the
    run's :class:`ComplementLP` (built here if not given).
    """
    lp = lp or ComplementLP(model, config)
    code, message, moves = lp.moves(status, cell, target)
    if code != OPTIMAL:
        raise ComplementError(
            f"{model.cells[cell].where()}: no set of released counts of at least "
            f"{config.min_count} can be withheld to protect this suppressed count ({message})"
        )
    movable = status[lp.candidates] == SHOWN
    chosen = lp.candidates[movable & (moves > _MOVED)]
    if not len(chosen):
        raise DisclosureError(f"{model.cells[cell].where()}: no complement found")
    return chosen
