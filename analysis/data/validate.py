"""Validation of parsed raw tables: pandera schemas per table, then cross-table rules.

Everything is collected (pandera ``lazy=True``; cross-table rules as vectorised masks) and
returned as a list of :class:`analysis.errors.Problem`; the caller raises one
:class:`analysis.errors.InputValidationError` listing all of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from analysis.data.ingest import RawTables
from analysis.data.prepare_config import PrepareConfig
from analysis.data.schema import (
    IDENTIFIER_COLUMNS,
    MASK,
    PANDERA_RULES,
    TABLE_NAMES,
    TABLES,
    build_schemas,
)
from analysis.errors import Problem


def data_cutoff(tables: dict[str, pd.DataFrame], cfg: PrepareConfig) -> pd.Timestamp:
    """The data cut-off: ``data.cutoff_date`` if set, else the latest date in the export."""
    if cfg.cutoff_date is not None:
        return pd.Timestamp(cfg.cutoff_date).normalize()
    latest = [
        tables[t][c.name].max()
        for t in TABLE_NAMES
        if t in tables
        for c in TABLES[t]
        if c.kind == "date"
    ]
    latest = [d for d in latest if pd.notna(d)]
    return max(latest) if latest else pd.Timestamp("1970-01-01")


def _shown(column: str | None, value) -> str | None:
    if column in IDENTIFIER_COLUMNS:
        return MASK
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _pandera_problems(err: pa.errors.SchemaErrors, file: str) -> list[Problem]:
    fc = err.failure_cases
    problems = []
    for column, check, value, index in zip(
        fc["column"], fc["check"], fc["failure_case"], fc["index"], strict=True
    ):
        row = None if index is None or pd.isna(index) else int(index) + 1
        rule = PANDERA_RULES.get(str(check), str(check))
        problems.append(Problem(file, row, column, _shown(column, value), rule))
    return problems


def schema_problems(raw: RawTables, cfg: PrepareConfig, cutoff: pd.Timestamp) -> list[Problem]:
    """Run the pandera schema of each table (types, ranges, codes, missing values, uniqueness).

    Columns already reported missing are skipped so that one missing column gives one problem.
    """
    schemas = build_schemas(
        regions=cfg.regions,
        products=cfg.products,
        complication_types=cfg.complication_types,
        birth_year_range=(cfg.birth_year_min, int(cutoff.year)),
        max_met_h_week=cfg.max_met_h_week,
    )
    missing = {(p.file, p.column) for p in raw.problems if p.row is None and p.column}
    problems: list[Problem] = []
    for table, df in raw.tables.items():
        file = raw.files[table]
        skip = [c for c in df.columns if (file, c) in missing]
        schema = schemas[table].remove_columns(skip) if skip else schemas[table]
        try:
            schema.validate(df.drop(columns=skip), lazy=True)
        except pa.errors.SchemaErrors as err:
            problems.extend(_pandera_problems(err, file))
    return problems


def _rows(file: str, column: str, mask, values: pd.Series, rule: str) -> list[Problem]:
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    return [Problem(file, int(i) + 1, column, _shown(column, values.iloc[i]), rule) for i in idx]


def parent_positions(raw: RawTables) -> dict[str, np.ndarray]:
    """Row of the referenced parent for each child row (-1 if none), computed once.

    Keys: ``"treatments"`` (row in patients), ``"assessments"``, ``"complications"`` (row in
    treatments). Duplicated parent ids (reported elsewhere) resolve to their first row.
    """
    t = raw.tables
    links = {
        "treatments": ("patient_id", "patients"),
        "assessments": ("episode_id", "treatments"),
        "complications": ("episode_id", "treatments"),
    }
    out: dict[str, np.ndarray] = {}
    index: dict[str, pd.Index] = {}
    for child, (col, parent) in links.items():
        if child not in t or parent not in t:
            continue
        if parent not in index:
            ids = t[parent][col]
            first = ~ids.duplicated().to_numpy()
            index[parent] = (pd.Index(ids[first]), np.flatnonzero(first))
        idx, rows = index[parent]
        pos = idx.get_indexer(t[child][col])
        out[child] = np.where(pos >= 0, rows[np.maximum(pos, 0)], -1)
    return out


def _parent_values(pos: np.ndarray, parent: pd.DataFrame, column: str) -> pd.Series:
    """``parent[column]`` at ``pos`` (missing where ``pos`` is -1)."""
    values = parent[column].iloc[np.maximum(pos, 0)].reset_index(drop=True)
    return values.where(pos >= 0)


def reference_problems(raw: RawTables, pos: dict[str, np.ndarray]) -> list[Problem]:
    """Referential integrity: treatments -> patients, assessments/complications -> treatments."""
    problems: list[Problem] = []
    links = [
        ("treatments", "patient_id", "patients"),
        ("assessments", "episode_id", "treatments"),
        ("complications", "episode_id", "treatments"),
    ]
    for child, col, parent in links:
        if child not in pos:
            continue
        keys = raw.tables[child][col]
        unknown = keys.notna().to_numpy() & (pos[child] < 0)
        rule = f"{col} not found in {parent} ({raw.files[parent]})"
        problems += _rows(raw.files[child], col, unknown, keys, rule)
    return problems


def date_problems(
    raw: RawTables, cutoff: pd.Timestamp, pos: dict[str, np.ndarray]
) -> list[Problem]:
    """Dates in order: nothing before its treatment, resolution not before onset, nothing
    (treatment, visit, report, onset) after the data cut-off; a resolution may lie after it."""
    t = raw.tables
    problems: list[Problem] = []
    if "treatments" not in t:
        return problems
    tr = t["treatments"]
    late = tr["treatment_date"] > cutoff
    problems += _rows(
        raw.files["treatments"],
        "treatment_date",
        late,
        tr["treatment_date"],
        f"treatment after the data cut-off {cutoff:%Y-%m-%d}",
    )
    if "assessments" in pos:
        a, f = t["assessments"], raw.files["assessments"]
        treated = _parent_values(pos["assessments"], tr, "treatment_date")
        problems += _rows(
            f,
            "assessment_date",
            a["assessment_date"] < treated,
            a["assessment_date"],
            "assessment before its treatment date",
        )
        problems += _rows(
            f,
            "reported_wearoff_date",
            a["reported_wearoff_date"] <= treated,
            a["reported_wearoff_date"],
            "reported wear-off not after its treatment date",
        )
        for col in ("assessment_date", "reported_wearoff_date"):
            problems += _rows(
                f, col, a[col] > cutoff, a[col], f"date after the data cut-off {cutoff:%Y-%m-%d}"
            )
        empty = a["severity"].isna() & a["reported_wearoff_date"].isna()
        problems += _rows(
            f,
            "severity",
            empty,
            a["severity"],
            "severity may be empty only when reported_wearoff_date is given",
        )
    if "complications" in pos:
        c, f = t["complications"], raw.files["complications"]
        treated = _parent_values(pos["complications"], tr, "treatment_date")
        problems += _rows(
            f,
            "onset_date",
            c["onset_date"] < treated,
            c["onset_date"],
            "complication onset before its treatment date",
        )
        problems += _rows(
            f,
            "onset_date",
            c["onset_date"] > cutoff,
            c["onset_date"],
            f"date after the data cut-off {cutoff:%Y-%m-%d}",
        )
        problems += _rows(
            f,
            "resolution_date",
            c["resolution_date"] < c["onset_date"],
            c["resolution_date"],
            "resolution before onset",
        )
    return problems


def clinical_problems(
    raw: RawTables, cfg: PrepareConfig, pos: dict[str, np.ndarray]
) -> list[Problem]:
    """Complication types impossible in the treated region; implausibly large doses."""
    t = raw.tables
    problems: list[Problem] = []
    if "treatments" not in t:
        return problems
    tr, f = t["treatments"], raw.files["treatments"]
    codes, uniques = pd.factorize(tr["product"])
    ratio = np.array([cfg.units_per_ona_unit.get(u, np.nan) for u in uniques] + [np.nan])[codes]
    too_much = (tr["units"] / ratio) > cfg.max_units_ona_eq
    problems += _rows(
        f,
        "units",
        too_much,
        tr["units"],
        f"dose above the plausible maximum of {cfg.max_units_ona_eq:g} "
        "onabotulinumtoxinA-equivalent units (prepare.max_units_ona_eq)",
    )
    if "complications" in pos:
        c, f = t["complications"], raw.files["complications"]
        region = _parent_values(pos["complications"], tr, "region")
        allowed = {(ty, r) for ty, rs in cfg.complication_regions.items() for r in rs}
        known = region.notna() & c["complication_type"].isin(cfg.complication_types)
        pairs = pd.Series(list(zip(c["complication_type"], region, strict=True)), index=c.index)
        impossible = known & ~pairs.isin(allowed)
        for i in np.flatnonzero(impossible.to_numpy()):
            ty, r = c["complication_type"].iloc[i], region.iloc[i]
            problems.append(
                Problem(
                    f,
                    int(i) + 1,
                    "complication_type",
                    ty,
                    f"'{ty}' cannot occur in the episode's region '{r}' "
                    f"(complication_types.{ty}.regions)",
                )
            )
    return problems


def validate(raw: RawTables, cfg: PrepareConfig, cutoff: pd.Timestamp) -> list[Problem]:
    """Every problem of an export: parsing, schema, references, dates, clinical plausibility.

    Returns
    -------
    list of Problem
        Sorted by file, row and column; empty when the export is valid.
    """
    problems = list(raw.problems)
    problems += schema_problems(raw, cfg, cutoff)
    pos = parent_positions(raw)
    problems += reference_problems(raw, pos)
    problems += date_problems(raw, cutoff, pos)
    problems += clinical_problems(raw, cfg, pos)
    order = {f: i for i, f in enumerate(raw.files.values())}
    return sorted(
        set(problems),
        key=lambda p: (order.get(p.file, -1), p.row or 0, p.column or "", p.rule),
    )
