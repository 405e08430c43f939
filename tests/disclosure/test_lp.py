"""The warm-started audit LP gives what scipy's linprog gives when solving each LP from scratch."""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from analysis.disclosure.lp import OPTIMAL, UNBOUNDED, AuditLP


def _reference(col, sign, a_ub, b_ub, a_eq, b_eq, lower, upper):
    c = np.zeros(a_ub.shape[1])
    c[col] = sign
    bounds = [
        (None if np.isinf(lo) else lo, None if np.isinf(hi) else hi)
        for lo, hi in zip(lower, upper, strict=True)
    ]
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    return res.status, (-math.inf if res.status == UNBOUNDED else res.fun)


def test_a_sequence_of_objectives_and_bounds_matches_solving_each_from_scratch():
    """Linked tables in miniature: 12 cube cells, 3 row and 4 column margins of a 3 x 4 table,
    then cells released (fixed) or withheld (>= 1) as the suppression loop does."""
    rng = np.random.default_rng(4)
    cells = rng.integers(1, 9, size=(3, 4)).astype(float)
    n_x = cells.size
    margins = [cells[i].sum() for i in range(3)] + [cells[:, j].sum() for j in range(4)]
    n = n_x + len(margins)
    rows = []
    for i in range(3):  # margin_i - sum of its row = 0
        row = np.zeros(n)
        row[n_x + i] = 1.0
        row[[i * 4 + j for j in range(4)]] = -1.0
        rows.append(row)
    for j in range(4):
        row = np.zeros(n)
        row[n_x + 3 + j] = 1.0
        row[[i * 4 + j for i in range(3)]] = -1.0
        rows.append(row)
    a_eq = sparse.csr_matrix(np.array(rows))
    b_eq = np.zeros(len(rows))
    a_ub = sparse.csr_matrix(np.eye(n)[:1] * 0.0)  # one empty inequality: 0 <= 100
    b_ub = np.array([100.0])
    lp = AuditLP(a_ub, b_ub, a_eq, b_eq)
    lower = np.concatenate([np.zeros(n_x), margins])
    upper = np.concatenate([np.full(n_x, np.inf), margins])
    for step in range(8):
        if step in (2, 5):  # withhold a margin: its bound relaxes to >= 1
            k = n_x + rng.integers(len(margins))
            lower[k], upper[k] = 1.0, np.inf
        col = int(rng.integers(n))
        for sign in (1.0, -1.0):
            got = lp.solve(col, sign, lower.copy(), upper.copy())
            want = _reference(col, sign, a_ub, b_ub, a_eq, b_eq, lower, upper)
            assert got[0] == want[0]
            assert got[1] == want[1] or abs(got[1] - want[1]) < 1e-9


def test_an_unbounded_count_is_reported_as_unbounded():
    empty = sparse.csr_matrix((0, 2))
    lp = AuditLP(empty, np.array([]), empty, np.array([]))
    assert lp.solve(0, -1.0, np.zeros(2), np.full(2, np.inf)) == (UNBOUNDED, -math.inf)
    assert lp.solve(1, 1.0, np.array([0.0, 2.0]), np.full(2, np.inf)) == (OPTIMAL, 2.0)
