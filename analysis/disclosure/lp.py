"""The audit's linear programmes on one warm-started HiGHS model.

Every audit LP of a release has the same constraint matrix: only the objective (which count
to minimise or maximise) and the column bounds (which counts are released) change from one LP
to the next. ``scipy.optimize.linprog`` builds, presolves and solves each from scratch (about
0.3 s each on the demo's 1,936 linked cells; the release solves about 1,000). :class:`AuditLP`
loads the matrix into HiGHS (``highspy``) once and changes only the cost and the bounds that
differ. A new cost leaves the previous optimal basis primal feasible, so the **primal**
simplex restarts from it and needs few pivots (the dual simplex, HiGHS's default, does not
profit: measured slower than solving from scratch). ``benchmarks/bench_disclose.py`` prints
both methods on the demo's release and the largest difference between their intervals.

The first solve of a model has no basis to start from: it uses HiGHS's defaults (presolve,
dual simplex; 8.5 s instead of 38.5 s for the first complement LP of the repro test's tiny
cohort). Every later solve runs without presolve, which would discard the warm basis and
reports an unbounded objective as "unbounded or infeasible" (a cold solve with that status is
solved once more without presolve to tell which).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import highspy
import numpy as np
from scipy import sparse

#: ``linprog``'s status codes, which the callers already speak.
OPTIMAL, INFEASIBLE, UNBOUNDED, OTHER = 0, 2, 3, 4
#: HiGHS's ``simplex_strategy`` for the primal simplex.
PRIMAL_SIMPLEX = 4


class AuditLP:
    """``min sign * x[col]`` subject to ``a_ub @ x <= b_ub``, ``a_eq @ x = b_eq`` and column
    bounds; one matrix for every call, each solve warm-started from the previous basis."""

    def __init__(
        self,
        a_ub: sparse.csr_matrix,
        b_ub: np.ndarray,
        a_eq: sparse.csr_matrix,
        b_eq: np.ndarray,
    ) -> None:
        n = a_ub.shape[1]
        inf = highspy.kHighsInf
        with _quiet_stdout():  # HiGHS's C++ constructor prints a two-line copyright banner
            self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        self._warm = False  # the first solve is cold: HiGHS's defaults (presolve, dual simplex)
        empty_int = np.array([], dtype=np.int32)
        self.highs.addCols(
            n, np.zeros(n), np.zeros(n), np.full(n, inf), 0, empty_int, empty_int, np.array([])
        )
        rows = sparse.vstack([a_ub, a_eq], format="csr")
        if rows.shape[0]:
            self.highs.addRows(
                rows.shape[0],
                np.concatenate([np.full(a_ub.shape[0], -inf), b_eq]),
                np.concatenate([b_ub, b_eq]),
                rows.nnz,
                rows.indptr[:-1].astype(np.int32),
                rows.indices.astype(np.int32),
                rows.data.astype(float),
            )
        self._lower = np.zeros(n)
        self._upper = np.full(n, math.inf)
        self._cost = np.zeros(n)

    def solve(
        self, col: int, sign: float, lower: np.ndarray, upper: np.ndarray
    ) -> tuple[int, float]:
        """``(status, min sign * x[col])`` under the bounds ``lower``/``upper`` (``±inf``: none)."""
        cost = np.zeros(self._cost.size)
        cost[col] = sign
        return self.minimise(cost, lower, upper)

    def minimise(self, cost: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> tuple[int, float]:
        """``(status, min cost @ x)`` under the bounds ``lower``/``upper`` (``±inf``: none);
        the minimiser is :meth:`solution`. Only the costs and bounds that differ from the
        previous call are changed, so the solve starts from the previous basis."""
        self._set_bounds(lower, upper)
        changed = np.flatnonzero(cost != self._cost)
        if changed.size:
            self.highs.changeColsCost(
                changed.size, changed.astype(np.int32), cost[changed].astype(float)
            )
            self._cost[changed] = cost[changed]
        self.highs.run()
        if not self._warm:
            # presolve-free primal simplex from here on: each later solve starts from the last
            # basis; a cold "unbounded or infeasible" (presolve's words) is solved again to tell
            self.highs.setOptionValue("presolve", "off")
            self.highs.setOptionValue("simplex_strategy", PRIMAL_SIMPLEX)
            self._warm = True
            if self.highs.getModelStatus() == highspy.HighsModelStatus.kUnboundedOrInfeasible:
                self.highs.run()
        status = self.highs.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            return OPTIMAL, float(self.highs.getInfo().objective_function_value)
        if status == highspy.HighsModelStatus.kUnbounded:
            return UNBOUNDED, -math.inf
        if status == highspy.HighsModelStatus.kInfeasible:
            return INFEASIBLE, math.nan
        return OTHER, math.nan

    def solution(self) -> np.ndarray:
        """The column values of the last optimal solve."""
        return np.asarray(self.highs.getSolution().col_value, dtype=float)

    def _set_bounds(self, lower: np.ndarray, upper: np.ndarray) -> None:
        changed = np.flatnonzero((lower != self._lower) | (upper != self._upper))
        if changed.size:
            inf = highspy.kHighsInf
            self.highs.changeColsBounds(
                changed.size,
                changed.astype(np.int32),
                np.where(np.isfinite(lower[changed]), lower[changed], -inf),
                np.where(np.isfinite(upper[changed]), upper[changed], inf),
            )
            self._lower[changed] = lower[changed]
            self._upper[changed] = upper[changed]

    def message(self) -> str:
        """HiGHS's words for the last model status (for error messages)."""
        return str(self.highs.modelStatusToString(self.highs.getModelStatus()))


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null inside the block (output from compiled code)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
