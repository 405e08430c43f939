"""Row order of the processed tables, derived from the data and never from the pseudonym key.

Models that resample or index patients (the patient bootstrap, MCMC frailties) see patients in
the order of the processed tables, so that order must not change when the pseudonymisation key
changes. It is built from what was recorded:

1. Every episode gets a *content rank*: episodes are compared column by column on everything
   the episode table holds except pseudonyms (treatment date first, then region, product,
   units, covariates, endpoints, complication flags).
2. Patients are ordered by their history: the sequence of their episodes' content ranks
   (earliest first) compared element by element, so first by first treatment date, then by
   what that treatment was, then by the next one, and so on; a history that is a prefix of
   another comes first. Patients with no kept episode come last, by sex, birth year and body
   fat.
3. Clinics and injectors are ranked by where they first appear in that order; patients still
   tied (identical recorded histories) are then compared on the staff who treated them.
4. Only patients (and episodes) that are identical in every recorded value, staff included,
   are left in pseudonym order: swapping them changes nothing a model sees.

Episodes are sorted by treatment date, then patient order, then content.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data.derive import hex_key_columns

#: Pseudonym columns: never used to order rows (except as the last tie-break).
PSEUDONYM_COLUMNS = ("episode_key", "patient_key", "clinic", "injector", "parent_episode_key")


def _sort_keys(values: pd.Series) -> list[np.ndarray]:
    """Integer/float arrays that sort like ``values`` and compare equal exactly when it does.

    Missing values sort first and equal each other (NaN never equals NaN in a float array).
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        days = values.to_numpy("datetime64[D]").astype("int64")
        return [values.isna().to_numpy(), np.where(values.isna(), 0, days)]
    if pd.api.types.is_bool_dtype(values):
        return [values.to_numpy(dtype="int8")]
    if pd.api.types.is_numeric_dtype(values):
        num = values.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(num)
        return [~missing, np.where(missing, 0.0, num)]
    codes, _ = pd.factorize(values.astype(object), sort=True)
    return [codes]


def dense_rank(keys: list[np.ndarray]) -> np.ndarray:
    """0-based dense rank of rows by ``keys`` (first key most significant); ties share a rank."""
    order = np.lexsort(keys[::-1])
    if order.size == 0:
        return order
    new = np.zeros(order.size, dtype=bool)
    new[0] = True
    for key in keys:  # one sorted copy at a time (memory)
        k = key[order]
        new[1:] |= k[1:] != k[:-1]
    rank = np.empty(order.size, dtype="int64")
    rank[order] = np.cumsum(new) - 1
    return rank


def content_rank(table: pd.DataFrame, first: str | None = None) -> np.ndarray:
    """Dense rank of rows by every column except pseudonyms (``first`` compared first)."""
    columns = [c for c in table.columns if c not in PSEUDONYM_COLUMNS]
    if first is not None:
        columns = [first, *(c for c in columns if c != first)]
    return dense_rank([k for c in columns for k in _sort_keys(table[c])])


def history_rank(patient: np.ndarray, n_patients: int, episode_rank: np.ndarray) -> np.ndarray:
    """Dense rank of patients by the sorted sequence of their episodes' ranks (lexicographic).

    ``patient`` holds a code 0..n_patients-1 per episode. Patients are refined one history
    position at a time (a missing position sorts first), stopping once every rank is distinct.
    """
    order = np.lexsort((episode_rank, patient))
    pat, ranks = patient[order], episode_rank[order]
    starts = np.r_[True, pat[1:] != pat[:-1]]
    position = np.arange(pat.size) - np.maximum.accumulate(np.where(starts, np.arange(pat.size), 0))
    rank = np.zeros(n_patients, dtype="int64")
    for k in range(int(position.max(initial=-1)) + 1):
        at_k = position == k
        column = np.full(n_patients, -1, dtype="int64")
        column[pat[at_k]] = ranks[at_k]
        rank = dense_rank([rank, column])
        if np.unique(rank).size == n_patients:
            break
    return rank


def _staff_rank(staff: pd.Series, episode_order: np.ndarray) -> np.ndarray:
    """Rank of each episode's clinic or injector by its first appearance in ``episode_order``."""
    codes, _ = pd.factorize(staff.to_numpy()[episode_order])
    rank = np.empty(codes.size, dtype="int64")
    rank[episode_order] = codes
    return rank


def processed_order(
    episodes: pd.DataFrame, patients: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Row order of the episode and patient tables, from the data (see the module docstring).

    Parameters
    ----------
    episodes
        Kept episodes (the processed episode table, any order).
    patients
        The processed patient table (``patient_key, sex, birth_year, body_fat_pct``).

    Returns
    -------
    episode_order, patient_order : numpy.ndarray
        Positions that sort ``episodes`` and ``patients``.
    """
    keys = patients["patient_key"]
    patient = pd.Index(keys).get_indexer(episodes["patient_key"])
    content = content_rank(episodes, first="treatment_date")
    provisional = np.lexsort((content, history_rank(patient, len(keys), content)[patient]))
    staff = [_staff_rank(episodes[c], provisional) for c in ("clinic", "injector")]
    episode_rank = dense_rank([content, *staff])
    rank = history_rank(patient, len(keys), episode_rank)
    has_episode = np.zeros(len(keys), dtype=bool)
    has_episode[patient] = True
    own = content_rank(patients)  # patients without a kept episode: by their own record
    patient_order = np.lexsort((*hex_key_columns(keys), own, rank, ~has_episode))
    position = np.empty(len(keys), dtype="int64")
    position[patient_order] = np.arange(len(keys))
    day = episodes["treatment_date"].to_numpy("datetime64[D]").astype("int64")
    episode_order = np.lexsort(
        (*hex_key_columns(episodes["episode_key"]), episode_rank, position[patient], day)
    )
    return episode_order, patient_order
