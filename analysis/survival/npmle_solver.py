"""Compiled solver of the Turnbull NPMLE: a constrained Newton method stopped on the KKT conditions.

The problem (Turnbull 1976): masses ``p_j >= 0``, ``sum p_j = 1`` on the innermost intervals
``j = 0..m-1`` maximise ``l(p) = sum_u w_u log P_u`` with ``P_u = sum_{j in block u} p_j``; each
observed interval ("block" u, weight ``w_u``: episodes, or bootstrap counts) contains a
contiguous run ``first_u..last_u`` of innermost intervals. With ``n = sum_u w_u`` and

    d_j = sum_u w_u [first_u <= j <= last_u] / P_u          (the gradient of l)

``p`` is the NPMLE if and only if ``d_j <= n`` for every j (with equality where ``p_j > 0``):
the Kuhn-Tucker conditions (Gentleman & Geyer 1994, Biometrika 81:618). Since
``sum_j p_j d_j = n`` and ``l`` is concave, ``l(p_hat) - l(p) <= max_j d_j - n``: the
**violation** ``max_j d_j / n - 1`` bounds the log-likelihood still to gain per observation.
The solver stops when it is at most ``tol``.

Each iteration (a constrained Newton method in the spirit of Wang 2008, Comput Stat Data Anal
52:2388): candidates = the current support plus, in every gap between support points, the
interval with the largest ``d_j`` if it violates the conditions; on the candidates, the
quadratic model ``2 d'q - q'Qq/2`` with ``Q = sum_u (w_u / P_u^2) a_u a_u'`` (``Q p = d``) is
maximised subject to ``sum q = 1`` (a Lagrange multiplier), candidates with ``q <= 0`` being
dropped and the system re-solved; ``q - p`` is the search direction (the vertex direction
towards ``argmax d`` if it does not ascend). The full step is taken when it does not lower the
log-likelihood beyond rounding (it may empty a support point); otherwise the step maximises
the log-likelihood on the segment, found from the sign of its exact derivative. ``Q`` over s
candidates is built in O(#blocks + s^2) from two-dimensional cumulative sums, because blocks
are runs. Numba compiles the kernels on first use (a few seconds per process).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def _block_probs(first, last, w, p, probs):
    """Fill ``probs`` with each block's probability and return the log-likelihood."""
    m = p.size
    cum = np.empty(m + 1)
    cum[0] = 0.0
    for j in range(m):
        cum[j + 1] = cum[j] + p[j]
    ll = 0.0
    for u in range(first.size):
        pu = cum[last[u] + 1] - cum[first[u]]
        probs[u] = pu
        if pu <= 0.0:
            return -np.inf
        ll += w[u] * np.log(pu)
    return ll


@numba.njit(nogil=True, cache=True)
def _gradient(first, last, w, probs, m):
    """``d_j = sum_u w_u [j in block u] / P_u`` by a difference array."""
    diff = np.zeros(m + 1)
    for u in range(first.size):
        r = w[u] / probs[u]
        diff[first[u]] += r
        diff[last[u] + 1] -= r
    d = np.empty(m)
    acc = 0.0
    for j in range(m):
        acc += diff[j]
        d[j] = acc
    return d


@numba.njit(nogil=True, cache=True)
def _candidates(p, d, n, tol):
    """Support of ``p`` plus, in each gap between support points, the argmax of ``d`` if it
    violates the KKT conditions."""
    m = p.size
    out = np.empty(m, dtype=np.int64)
    k = 0
    j = 0
    bound = n * (1.0 + tol)
    while j < m:
        if p[j] > 0.0:
            out[k] = j
            k += 1
            j += 1
            continue
        best = -1
        best_d = bound
        while j < m and p[j] <= 0.0:
            if d[j] > best_d:
                best_d = d[j]
                best = j
            j += 1
        if best >= 0:
            out[k] = best
            k += 1
    return out[:k]


@numba.njit(nogil=True, cache=True)
def _gram(first, last, w, probs, cand, m):
    """``Q_jk = sum_u (w_u / P_u^2) [j, k in block u]`` over the candidates (O(#blocks + s^2))."""
    s = cand.size
    below = np.zeros(m + 2, dtype=np.int64)  # below[j] = number of candidates < j
    is_cand = np.zeros(m, dtype=np.bool_)
    for c in cand:
        is_cand[c] = True
    for j in range(m):
        below[j + 1] = below[j] + (1 if is_cand[j] else 0)
    below[m + 1] = below[m]
    edge = np.zeros((s + 1, s + 1))
    for u in range(first.size):
        a = below[first[u]]
        b = below[last[u] + 1]
        if b > a:
            edge[a, b] += w[u] / (probs[u] * probs[u])
    # tail[x, y] = sum_{a <= x, b >= y} edge[a, b]
    for x in range(1, s + 1):
        for y in range(s + 1):
            edge[x, y] += edge[x - 1, y]
    for x in range(s + 1):
        for y in range(s - 1, -1, -1):
            edge[x, y] += edge[x, y + 1]
    q = np.empty((s, s))
    for j in range(s):
        for k in range(j, s):
            q[j, k] = edge[j, k + 1]
            q[k, j] = q[j, k]
    return q


@numba.njit(nogil=True, cache=True)
def _cholesky_solve_two(a, b0, b1):
    """Solve ``A x = b`` for two right-hand sides by Cholesky (A symmetric positive
    semi-definite); a pivot that is not positive gets a small ridge (a mass split the data
    cannot identify keeps its share)."""
    k = a.shape[0]
    low = np.zeros((k, k))
    scale = 0.0
    for i in range(k):
        scale = max(scale, a[i, i])
    floor = 1e-13 * scale if scale > 0 else 1e-300
    for i in range(k):
        for j in range(i + 1):
            acc = a[i, j]
            for r in range(j):
                acc -= low[i, r] * low[j, r]
            if i == j:
                low[i, i] = np.sqrt(acc) if acc > floor else np.sqrt(floor)
            else:
                low[i, j] = acc / low[j, j]
    x0 = b0.copy()
    x1 = b1.copy()
    for i in range(k):
        for r in range(i):
            x0[i] -= low[i, r] * x0[r]
            x1[i] -= low[i, r] * x1[r]
        x0[i] /= low[i, i]
        x1[i] /= low[i, i]
    for i in range(k - 1, -1, -1):
        for r in range(i + 1, k):
            x0[i] -= low[r, i] * x0[r]
            x1[i] -= low[r, i] * x1[r]
        x0[i] /= low[i, i]
        x1[i] /= low[i, i]
    return x0, x1


@numba.njit(nogil=True, cache=True)
def _solve_sum_constrained(q, c, keep):
    """Maximise ``c'x - x'Qx/2`` over the kept coordinates subject to ``sum x = 1``."""
    idx = np.flatnonzero(keep)
    k = idx.size
    sub = np.empty((k, k))
    rhs = np.empty(k)
    for a in range(k):
        rhs[a] = c[idx[a]]
        for b in range(k):
            sub[a, b] = q[idx[a], idx[b]]
    u, v = _cholesky_solve_two(sub, rhs, np.ones(k))
    lam = (u.sum() - 1.0) / v.sum()
    return idx, u - lam * v, lam


@numba.njit(nogil=True, cache=True)
def _newton_target(q, c, x0, dual_tol):
    """Maximise ``c'x - x'Qx/2`` subject to ``x >= 0``, ``sum x = 1`` by an active-set method
    (Lawson & Hanson's, with the sum constraint) warm-started at the feasible ``x0``: solve on
    the free set; if a free coordinate would turn negative, move to the boundary and fix it at
    0; then free the fixed coordinate whose multiplier is largest while it exceeds
    ``dual_tol``."""
    s = c.size
    x = x0.copy()
    free = x > 0.0
    z = x.copy()
    for _ in range(3 * s + 10):
        lam = 0.0
        solved = False
        for _inner in range(s + 1):
            idx, sol, lam = _solve_sum_constrained(q, c, free)
            z[:] = 0.0
            for a in range(idx.size):
                z[idx[a]] = sol[a]
            if np.all(sol > 0.0):
                solved = True
                break
            # move towards the solution until the first free coordinate reaches 0; that one
            # (the blocking coordinate, set to exactly 0: rounding would leave it at 1e-18 and
            # the loop would stall) and any other at 0 leave the free set
            alpha = 1.0
            blocking = -1
            for a in range(idx.size):
                j = idx[a]
                if sol[a] <= 0.0:
                    ratio = x[j] / (x[j] - sol[a]) if x[j] - sol[a] > 0.0 else 0.0
                    if ratio < alpha or blocking < 0:
                        alpha = min(alpha, ratio)
                        blocking = j
            for j in range(s):
                x[j] = x[j] + alpha * (z[j] - x[j])
                if free[j] and x[j] <= 1e-15:
                    free[j] = False
                    x[j] = 0.0
            free[blocking] = False
            x[blocking] = 0.0
            if not free.any():
                free[np.argmax(c)] = True
        if not solved:
            break  # x is feasible: a partial step is still an ascent candidate
        x[:] = z
        best = -1
        best_w = dual_tol
        for j in range(s):
            if not free[j]:
                w = c[j] - lam
                for k in range(s):
                    w -= q[j, k] * x[k]
                if w > best_w:
                    best_w = w
                    best = j
        if best < 0:
            break
        free[best] = True
    for j in range(s):
        x[j] = max(x[j], 0.0)
    return x / x.sum()


@numba.njit(nogil=True, cache=True)
def _fill_probs(first, last, p, probs):
    """Fill ``probs`` with each block's probability (zeros included)."""
    cum = np.empty(p.size + 1)
    cum[0] = 0.0
    for j in range(p.size):
        cum[j + 1] = cum[j] + p[j]
    for u in range(first.size):
        probs[u] = cum[last[u] + 1] - cum[first[u]]


@numba.njit(nogil=True, cache=True)
def noise_of(ll):
    """Rounding scale of a log-likelihood value (changes below it are not measurable)."""
    return 1e-13 * abs(ll)


@numba.njit(nogil=True, cache=True)
def _slope_at(ww, probs, probs_t, t):
    """Derivative in ``t`` of ``sum_u w_u log(P_u + t (T_u - P_u))`` (``-inf`` where a block's
    probability reaches 0)."""
    acc = 0.0
    for u in range(ww.size):
        diff = probs_t[u] - probs[u]
        pu = probs[u] + t * diff
        if pu <= 0.0:
            if diff < 0.0:
                return -np.inf
            continue
        acc += ww[u] * diff / pu
    return acc


@numba.njit(nogil=True, cache=True)
def _exact_step(ww, probs, probs_t):
    """Step ``t`` in [0, 1] maximising the log-likelihood on the segment from ``p`` (block
    probabilities ``probs``) to the target (``probs_t``): the full step if the derivative is
    still non-negative there, else the root of the derivative by bisection. The derivative is
    exact where differences of log-likelihood values are lost in rounding."""
    if _slope_at(ww, probs, probs_t, 1.0) >= 0.0:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _slope_at(ww, probs, probs_t, mid) >= 0.0:
            lo = mid
        else:
            hi = mid
    return lo


@numba.njit(nogil=True, cache=True)
def fit_blocks(first, last, w, p0, tol, max_iter):
    """NPMLE of one weight vector from the feasible start ``p0``.

    Returns ``(p, iterations, violation)``; ``violation = max_j d_j / n - 1``. Blocks with
    zero weight are ignored; ``p0`` must give every weighted block positive probability.
    """
    act = np.flatnonzero(w > 0.0)
    f = first[act]
    la = last[act]
    ww = w[act]
    n = ww.sum()
    m = p0.size
    p = p0.copy()
    probs = np.empty(act.size)
    probs_new = np.empty(act.size)
    probs_em = np.empty(act.size)
    probs_t = np.empty(act.size)
    ll = _block_probs(f, la, ww, p, probs)
    viol = np.inf
    best_p = p.copy()
    best_viol = np.inf
    stalled = 0
    for it in range(max_iter + 1):
        d = _gradient(f, la, ww, probs, m)
        viol = d.max() / n - 1.0
        improved = viol < best_viol
        if improved:
            best_viol = viol
            best_p[:] = p
        # stop at the tolerance, or after ten iterations in a row without progress (the
        # floating-point limit; progress defined below)
        if viol <= tol or it == max_iter or stalled >= 10:
            return best_p, it, best_viol
        target = _newton_direction(f, la, ww, probs, p, d, n, tol)
        # the full step when it does not lower the log-likelihood beyond rounding (it may
        # empty a support point), else the best step on the segment
        ll_new = _block_probs(f, la, ww, target, probs_new)
        p_new = target
        if not ll_new >= ll - noise_of(ll):
            _fill_probs(f, la, target, probs_t)
            t = _exact_step(ww, probs, probs_t)
            p_new = p + t * (target - p)
            ll_new = _block_probs(f, la, ww, p_new, probs_new)
        # an EM step (p_j d_j / n, Turnbull's self-consistency update) never lowers the
        # log-likelihood; it wins where the quadratic model is poor (a support point whose
        # mass must grow many-fold)
        p_em = p * d / n
        ll_em = _block_probs(f, la, ww, p_em, probs_em)
        if ll_em > ll_new + noise_of(ll):
            p_new, ll_new = p_em, ll_em
            probs_new[:] = probs_em
        if not ll_new >= ll - noise_of(ll):
            return best_p, it, best_viol
        # progress = the log-likelihood rising beyond rounding, or a new smallest violation
        # (near the maximum the gain per step, about (d - n)'Q^-1(d - n) / 2, falls below the
        # log-likelihood's rounding while the violation still falls)
        stalled = stalled + 1 if ll_new <= ll + noise_of(ll) and not improved else 0
        p = p_new
        ll = ll_new
        probs[:] = probs_new
    return best_p, max_iter, best_viol


@numba.njit(nogil=True, cache=True)
def _newton_direction(f, la, ww, probs, p, d, n, tol):
    """Target of the constrained Newton step (the vertex ``argmax d`` if it does not ascend)."""
    m = p.size
    cand = _candidates(p, d, n, tol)
    q = _gram(f, la, ww, probs, cand, m)
    d2 = np.empty(cand.size)
    x0 = np.empty(cand.size)
    for a in range(cand.size):
        d2[a] = 2.0 * d[cand[a]]
        x0[a] = p[cand[a]]
    z = _newton_target(q, d2, x0, 0.1 * tol * n)
    target = np.zeros(m)
    for a in range(cand.size):
        target[cand[a]] = z[a]
    # the model's slope towards the target (>= 0 for the QP's maximiser, which is feasible:
    # only a value below rounding, n x 1e-12, means that the quadratic model failed)
    slope = 0.0
    for j in range(m):
        slope += (d[j] - n) * target[j]
    if not slope > -1e-12 * n:
        target[:] = 0.0
        target[np.argmax(d)] = 1.0
    return target


@numba.njit(nogil=True, cache=True)
def fit_many(first, last, weights, p0, tol, max_iter):
    """:func:`fit_blocks` for every column of ``weights`` (blocks x replicates), warm-started
    at ``p0``; returns masses (m x B), iterations and violations per replicate."""
    m = p0.size
    n_rep = weights.shape[1]
    mass = np.empty((m, n_rep))
    iters = np.empty(n_rep, dtype=np.int64)
    viol = np.empty(n_rep)
    for b in range(n_rep):
        p, it, v = fit_blocks(first, last, np.ascontiguousarray(weights[:, b]), p0, tol, max_iter)
        mass[:, b] = p
        iters[b] = it
        viol[b] = v
    return mass, iters, viol
