"""The ``prepare`` step: export directory -> validated, pseudonymised, derived tables.

``prepare`` reads and validates everything before anything is written; ``write_prepared`` then
writes all tables into a temporary directory and moves it into place, so that a failed run
leaves no partial output.

Example
-------
>>> cfg = PrepareConfig.from_params(load_params("params.yaml"))              # doctest: +SKIP
>>> prepared = prepare(Path("data/example"), cfg, key=load_key())            # doctest: +SKIP
>>> write_prepared(prepared, Path("data/processed"))                         # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from analysis.data.derive import (
    _day_number,
    derive_episodes,
    episode_roles,
    file_under_episodes,
)
from analysis.data.ingest import RawTables, default_mapping_path, load_mapping, read_export
from analysis.data.prepare_config import PrepareConfig
from analysis.data.processed import (
    STUDY_PERIOD_FILE,
    TABLE_FILES,
    check_table,
    write_study_period,
)
from analysis.data.pseudonym import pseudonymise
from analysis.data.row_order import processed_order
from analysis.data.schema import TABLE_NAMES, parse_touchup_flags
from analysis.data.validate import resolve_cutoff, validate
from analysis.errors import InputValidationError, Problem
from analysis.io import write_csv, write_json, write_parquet
from analysis.vocabulary import Vocabulary

EXCLUDED_EPISODE = "its episode was excluded (see treatments)"
#: Every file ``write_prepared`` writes: the six processed tables and the study period.
PROCESSED_FILES = (*TABLE_FILES.values(), STUDY_PERIOD_FILE)


@dataclass(frozen=True)
class PreparedData:
    """Validated, pseudonymised inputs, derived episodes and the data-quality reconciliation.

    ``staff_codes`` (clinic/injector label -> code) holds real staff labels: it is written only
    to the private directory, never with the processed tables. ``cutoff_source`` says where
    ``cutoff_date`` came from (one of :data:`analysis.data.processed.CUTOFF_SOURCES`:
    ``data.cutoff_date`` of params.yaml, or the export date of mapping.yaml). ``simulated``:
    the input was the simulator's output (:func:`is_simulator_output`).
    """

    patients: pd.DataFrame
    treatments: pd.DataFrame
    assessments: pd.DataFrame
    complications: pd.DataFrame
    episodes: pd.DataFrame
    data_quality: pd.DataFrame
    staff_codes: pd.DataFrame | None = None
    cutoff_date: pd.Timestamp | None = None
    cutoff_source: str | None = None
    simulated: bool = False


def is_simulator_output(input_dir: Path) -> bool:
    """Whether ``input_dir`` is the simulator's export: it holds the simulator's ``truth/``
    (``truth/truth.json``, written by :func:`analysis.simulator.cohort.write_cohort`)."""
    return (Path(input_dir) / "truth" / "truth.json").is_file()


def _keyed_like(ids: pd.Series, source_ids: pd.Series, source_keys: pd.Series) -> np.ndarray:
    """Pseudonyms of ``ids`` looked up from already hashed ``source_ids`` (validated unique)."""
    return source_keys.to_numpy()[pd.Index(source_ids).get_indexer(ids)]


def _keyed(
    raw: dict[str, pd.DataFrame], key: bytes
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Replace identifiers by keyed pseudonyms; return the tables and the staff-code lookup.

    Each identifier is hashed once (in its own table) and looked up elsewhere: the references
    have been validated, so every lookup succeeds.
    """
    p, t, a, c = (raw[n].copy() for n in TABLE_NAMES)
    p = p.astype({"birth_year": "int64"})  # validated: whole numbers, none missing
    t = t.astype({"muscle_bulk": "int64", "baseline_severity": "int64"})
    t["is_touchup"] = parse_touchup_flags(t["is_touchup"])[0]  # validated: readable or empty
    patient_ids, episode_ids = p.pop("patient_id"), t.pop("episode_id")
    patient_keys = pseudonymise(patient_ids, key, "patient")
    episode_keys = pseudonymise(episode_ids, key, "episode")
    p.insert(0, "patient_key", patient_keys.to_numpy())
    t.insert(0, "episode_key", episode_keys.to_numpy())
    t.insert(1, "patient_key", _keyed_like(t.pop("patient_id"), patient_ids, patient_keys))
    clinic, injector = t.pop("clinic_id"), t.pop("injector_id")
    t.insert(2, "clinic", pseudonymise(clinic, key, "clinic"))
    t.insert(3, "injector", pseudonymise(injector, key, "injector"))
    a.insert(0, "episode_key", _keyed_like(a.pop("episode_id"), episode_ids, episode_keys))
    c.insert(0, "episode_key", _keyed_like(c.pop("episode_id"), episode_ids, episode_keys))
    staff = (
        pd.concat(
            [
                pd.DataFrame({"kind": "clinic", "label": clinic, "code": t["clinic"]}),
                pd.DataFrame({"kind": "injector", "label": injector, "code": t["injector"]}),
            ]
        )
        .drop_duplicates()
        .sort_values(["kind", "code"])
        .reset_index(drop=True)
    )
    return {"patients": p, "treatments": t, "assessments": a, "complications": c}, staff


def _dq_rows(table: str, rows_in: int, excluded: pd.Series) -> list[dict[str, Any]]:
    """Data-quality rows of one table; ``excluded`` holds a reason per excluded row."""
    counts = excluded.value_counts().sort_index()
    kept = rows_in - int(counts.sum())
    if counts.empty:
        return [dict(table=table, rows_in=rows_in, rows_kept=kept, rows_excluded=0, reason="none")]
    return [
        dict(table=table, rows_in=rows_in, rows_kept=kept, rows_excluded=int(n), reason=str(reason))
        for reason, n in counts.items()
    ]


def age_exclusions(episodes: pd.DataFrame, cfg: PrepareConfig) -> pd.Series:
    """Reason of exclusion per episode (NaN = kept) from ``prepare.exclude``."""
    age, limits = episodes["age_years"], cfg.exclude
    reason = pd.Series(None, index=episodes.index, dtype=object)
    reason[age < limits.min_age_years] = (
        f"age under {limits.min_age_years:g} at treatment (prepare.exclude.min_age_years)"
    )
    reason[age >= limits.max_age_years] = (
        f"age {limits.max_age_years:g} or over at treatment (prepare.exclude.max_age_years)"
    )
    return reason


def sheet_rows(raw: RawTables) -> list[dict[str, Any]]:
    """Data-quality rows of each sheet of a workbook with several: rows read, or not and why.

    ``table`` is ``<table> sheet '<name>'``; a read sheet's rows count as kept here (their
    exclusions are counted under the table), a sheet not read (not listed under
    ``sheets.<table>`` in mapping.yaml) as excluded with that reason.
    """
    rows = []
    for table, parts in raw.parts.items():
        if len(parts) < 2:
            continue
        for part in parts:
            label = f"{table} sheet '{part.name}'"
            if part.read or part.rows == 0:
                rows += _dq_rows(label, part.rows, pd.Series(dtype=object))
            else:
                reason = f"sheet not read: {part.reason} in mapping.yaml"
                rows += _dq_rows(label, part.rows, pd.Series(reason, index=range(part.rows)))
    return rows


def row_exclusions(
    episodes_all: pd.DataFrame, excluded: pd.Series, roles: pd.DataFrame
) -> pd.Series:
    """Exclusion reason per treatment row (NaN = kept): a row goes with its episode."""
    by_episode = pd.Series(excluded.to_numpy(), index=episodes_all["episode_key"].to_numpy())
    return pd.Series(
        by_episode.reindex(roles["parent_episode_key"].to_numpy()).to_numpy(), index=roles.index
    )


def data_quality_table(
    rows_in: dict[str, int],
    episodes_all: pd.DataFrame,
    excluded: pd.Series,
    tables: dict[str, pd.DataFrame],
    cfg: PrepareConfig,
    sources: list[dict[str, Any]] | None = None,
    roles: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Reconcile rows in / kept / excluded (with reason) per table and for the endpoints.

    ``sources`` are extra rows appended at the end (workbook sheets, :func:`sheet_rows`).
    With ``roles`` (:func:`analysis.data.derive.episode_roles`, one row per treatment), the
    ``episodes`` rows reconcile kept treatment rows with episodes (rows that joined an episode
    as a touch-up or same-day record are "excluded" with that reason), and ``touchup_flags``
    counts the rows the clinic marked (``is_touchup``) and each kind of disagreement of the
    mark with the window rule (the mark was used; nothing is resolved silently).
    """
    dropped_keys = episodes_all.loc[excluded.notna(), "episode_key"]
    rows: list[dict[str, Any]] = []
    rows += _dq_rows("patients", rows_in["patients"], pd.Series(dtype=object))
    by_row = excluded if roles is None else row_exclusions(episodes_all, excluded, roles)
    rows += _dq_rows("treatments", rows_in["treatments"], by_row.dropna())
    for name in ("assessments", "complications"):
        gone = tables[name]["episode_key"].isin(dropped_keys)
        rows += _dq_rows(name, rows_in[name], pd.Series(EXCLUDED_EPISODE, index=gone.index[gone]))
    kept = episodes_all[excluded.isna()]
    if roles is None:
        rows += _dq_rows("episodes", len(kept), pd.Series(dtype=object))
    else:
        kept_rows = roles[by_row.isna().to_numpy()]
        rows += _dq_rows("episodes", len(kept_rows), kept_rows["join_reason"].dropna())
        marked = kept_rows[kept_rows["flag_marked"].to_numpy(bool)]
        rows += _dq_rows("touchup_flags", len(marked), marked["flag_disagreement"].dropna())
    rows += _dq_rows("duration_analysis", len(kept), kept["dur_exclusion_reason"].dropna())
    reported = kept[kept["reported_present"]]
    if cfg.use_reported_wearoff:
        tolerance = cfg.reported_wearoff_tolerance_days
        why = f"inconsistent with the visit interval (+/- {tolerance:g} days); visits used"
        unused = pd.Series(why, index=reported.index[~reported["reported_consistent"]])
    else:
        unused = pd.Series("prepare.use_reported_wearoff is false", index=reported.index)
    rows += _dq_rows("reported_wearoff", len(reported), unused)
    rows += list(sources or [])
    return pd.DataFrame(rows, columns=["table", "rows_in", "rows_kept", "rows_excluded", "reason"])


def _finish_tables(
    tables: dict[str, pd.DataFrame], excluded: np.ndarray
) -> dict[str, pd.DataFrame]:
    """Kept rows only, with day counts since treatment (rows not yet in their final order).

    ``excluded`` is a boolean per row of ``tables["treatments"]``.
    """
    tr = tables["treatments"]
    index = pd.Index(tr["episode_key"])  # assessments and complications are filed under
    treated = _day_number(tr["treatment_date"])  # their episode: days since its first injection
    a = tables["assessments"]
    pos = index.get_indexer(a["episode_key"])
    a = a[~excluded[pos]].copy()
    pos = pos[~excluded[pos]]
    a.insert(2, "day", _day_number(a["assessment_date"]) - treated[pos])
    a["severity"] = a["severity"].astype("Int64")
    c = tables["complications"]
    pos = index.get_indexer(c["episode_key"])
    c = c[~excluded[pos]].copy()
    pos = pos[~excluded[pos]]
    c.insert(3, "onset_day", _day_number(c["onset_date"]) - treated[pos])
    resolved = c["resolution_date"].notna().to_numpy()
    days = np.where(resolved, _day_number(c["resolution_date"]) - treated[pos], 0)
    c["resolution_day"] = pd.arrays.IntegerArray(days, ~resolved)  # unresolved: no day
    return {
        "patients": tables["patients"],
        "treatments": tr[~excluded],
        "assessments": a,
        "complications": c,
    }


def _in_episode_order(
    kept: dict[str, pd.DataFrame], episodes: pd.DataFrame, patient_order: np.ndarray
) -> dict[str, pd.DataFrame]:
    """Patients in ``patient_order``; the other tables follow the (ordered) ``episodes``.

    Within an episode, assessments are sorted by day (then severity and reported date) and
    complications by onset day (then type, severity, resolution): the order never depends on
    the pseudonym key or on the row order of the export.
    """
    position = pd.Index(episodes["episode_key"])
    t = kept["treatments"]
    t = t.iloc[
        np.lexsort(
            (
                t["units"].to_numpy(),
                _day_number(t["treatment_date"]),
                position.get_indexer(t["parent_episode_key"]),
            )
        )
    ]
    a = kept["assessments"]
    ties: tuple[np.ndarray, ...] = (
        a["severity"].fillna(-1).to_numpy("int64"),
        _day_number(a["reported_wearoff_date"]),
    )
    a = a.iloc[np.lexsort((*ties, a["day"].to_numpy(), position.get_indexer(a["episode_key"])))]
    c = kept["complications"]
    ties = (
        c["resolution_day"].fillna(-1).to_numpy("int64"),
        pd.factorize(c["severity"], sort=True)[0],
        pd.factorize(c["complication_type"], sort=True)[0],
    )
    c = c.iloc[
        np.lexsort((*ties, c["onset_day"].to_numpy(), position.get_indexer(c["episode_key"])))
    ]
    p = kept["patients"].iloc[patient_order]
    return {
        n: df.reset_index(drop=True)
        for n, df in {"patients": p, "treatments": t, "assessments": a, "complications": c}.items()
    }


def _filed_under_episodes(
    tables: dict[str, pd.DataFrame], cfg: PrepareConfig
) -> dict[str, pd.DataFrame]:
    """Decide every treatment row's episode (touch-ups, same-day records), record it in the
    treatments table (``touchup``, ``parent_episode_key``) and file assessments and
    complications under their episode. The roles are returned under the key ``_roles``."""
    t = tables["treatments"]
    roles = episode_roles(t, cfg.touchup_window_days)
    out = dict(tables)
    out["treatments"] = t.assign(
        touchup=roles["touchup"].to_numpy(bool),
        parent_episode_key=roles["parent_episode_key"].to_numpy(),
    )
    for name in ("assessments", "complications"):
        out[name] = file_under_episodes(tables[name], t, roles)
    out["_roles"] = roles
    return out


def prepare(
    input_dir: Path,
    cfg: PrepareConfig,
    *,
    key: bytes,
    mapping_path: Path | None = None,
    progress: bool = False,
) -> PreparedData:
    """Read, validate, pseudonymise and derive a clinic export (nothing is written).

    Parameters
    ----------
    input_dir : Path
        Directory with ``patients``, ``treatments``, ``assessments``, ``complications``
        (``.csv``, ``.parquet`` or ``.xlsx``).
    cfg : PrepareConfig
        The stage configuration (:meth:`PrepareConfig.from_params`).
    key : bytes
        Pseudonymisation key (:func:`analysis.data.pseudonym.load_key`).
    mapping_path : Path, optional
        Mapping YAML; default ``input_dir/mapping.yaml`` if it exists.
    progress : bool
        Show a progress bar on stderr.

    Raises
    ------
    InputValidationError
        Listing every root problem found (file, row, column, value, rule, knock-on count);
        values that may identify a person are masked. The data cut-off is ``data.cutoff_date``
        or the export date in mapping.yaml (``export_date``), never a date found in the data:
        a later date is a problem.
    """
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise InputValidationError(
            [Problem(str(input_dir), None, None, None, "input directory does not exist")]
        )
    steps = tqdm(total=4, desc="prepare", disable=not progress, file=sys.stderr)
    mapping = load_mapping(
        mapping_path if mapping_path is not None else default_mapping_path(input_dir)
    )
    raw = read_export(input_dir, mapping)
    steps.update()
    cutoff, source, problems = resolve_cutoff(cfg, mapping)
    problems = problems + validate(raw, cfg, cutoff)
    if problems or cutoff is None:
        steps.close()
        raise InputValidationError(problems)
    steps.update()
    tables, staff = _keyed(raw.tables, key)
    tables = _filed_under_episodes(tables, cfg)
    roles = tables.pop("_roles")
    steps.update()
    all_episodes = derive_episodes(
        tables["treatments"],
        tables["patients"],
        tables["assessments"],
        tables["complications"],
        cfg,
        cutoff,
        roles,
    )
    excluded = age_exclusions(all_episodes, cfg)
    dq = data_quality_table(
        raw.rows_in, all_episodes, excluded, tables, cfg, sheet_rows(raw), roles
    )
    drop = excluded.notna().to_numpy()
    episodes = all_episodes[~drop].drop(columns=["reported_present", "reported_consistent"])
    kept = _finish_tables(tables, row_exclusions(all_episodes, excluded, roles).notna().to_numpy())
    episode_order, patient_order = processed_order(episodes, kept["patients"])
    episodes = episodes.iloc[episode_order].reset_index(drop=True)
    kept = _in_episode_order(kept, episodes, patient_order)
    steps.update()
    steps.close()
    return PreparedData(
        **kept,
        episodes=episodes,
        data_quality=dq,
        staff_codes=staff,
        cutoff_date=cutoff,
        cutoff_source=source,
        simulated=is_simulator_output(input_dir),
    )


def data_quality_metrics(prepared: PreparedData) -> dict[str, Any]:
    """Small JSON-able summary for ``reports/data_quality.json`` (``dvc metrics show``)."""
    out: dict[str, Any] = {
        "cutoff_date": f"{prepared.cutoff_date:%Y-%m-%d}"
        if prepared.cutoff_date is not None
        else None
    }
    for table, g in prepared.data_quality.groupby("table", sort=False):
        out[table] = {
            "rows_in": int(g["rows_in"].iloc[0]),
            "rows_kept": int(g["rows_kept"].iloc[0]),
            "rows_excluded": int(g["rows_excluded"].sum()),
        }
    return out


def write_prepared(
    prepared: PreparedData, out_dir: Path, vocabulary: Vocabulary | None = None
) -> None:
    """Check every table against its schema, then write them into ``out_dir`` atomically.

    Files (:data:`PROCESSED_FILES`): ``patients``, ``treatments``, ``assessments``,
    ``complications``, ``episodes`` (Parquet), ``data_quality.csv`` and ``study_period.json``
    (the data cut-off). The schemas are those of :mod:`analysis.data.processed` (codes checked
    against ``vocabulary`` if given). Tables go to a temporary directory that then replaces
    ``out_dir`` as a whole, so a failed run leaves no partial output.

    Raises
    ------
    InputValidationError
        A table breaks its schema (nothing is written).
    """
    for table, file in TABLE_FILES.items():
        check_table(getattr(prepared, table), table, file, vocabulary)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        for table, file in TABLE_FILES.items():
            writer = write_csv if file.endswith(".csv") else write_parquet
            writer(getattr(prepared, table), tmp / file)
        if prepared.cutoff_date is None or prepared.cutoff_source is None:
            raise ValueError("prepared data without a data cut-off and its source")
        write_study_period(
            prepared.cutoff_date, prepared.cutoff_source, tmp, simulated=prepared.simulated
        )
        os.chmod(tmp, 0o755)
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-old-", dir=out_dir.parent))
            os.replace(out_dir, old / out_dir.name)
            os.replace(tmp, out_dir)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_staff_codes(prepared: PreparedData, private_dir: Path) -> Path:
    """Write the private clinic/injector code lookup (``staff_codes.csv``, mode 0600)."""
    private_dir = Path(private_dir)
    private_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(private_dir, 0o700)
    path = private_dir / "staff_codes.csv"
    write_csv(prepared.staff_codes, path)
    os.chmod(path, 0o600)
    return path


def write_metrics(prepared: PreparedData, path: Path) -> Path:
    """Write :func:`data_quality_metrics` as JSON."""
    return write_json(data_quality_metrics(prepared), path)
