"""Patient-clustered sums of per-episode score vectors (the "meat" of every sandwich variance).

Both frequentist duration models (the AFT of :mod:`analysis.survival.aft`, the Cox model of
:mod:`analysis.survival.cox`) and the clustered proportional-hazards test estimate a variance
``A^-1 (sum_g s_g s_g') A^-1`` from per-episode scores ``s_i`` summed within patient ``g``
(Lin & Wei 1989, JASA 84:1074). The sum is one sparse product: O(n p).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse


def cluster_sums(scores: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """Sum the rows of ``scores`` (n, p) within each cluster; shape (number of clusters, p).

    Clusters are numbered in order of first appearance (:func:`pandas.factorize`).
    """
    scores = np.asarray(scores, dtype=float)
    codes, uniques = pd.factorize(np.asarray(cluster))
    if (codes < 0).any():
        raise ValueError("cluster_sums: the cluster of some episodes is missing")
    n = codes.size
    indicator = sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(len(uniques), n))
    return np.asarray(indicator @ scores)


def meat(scores: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """``sum_g s_g s_g'`` of the cluster-summed scores."""
    per_cluster = cluster_sums(scores, cluster)
    return per_cluster.T @ per_cluster
