"""Validation of parsed raw tables: pandera schemas per table, then cross-table rules.

Everything is collected (pandera ``lazy=True``; cross-table rules as vectorised masks) and
returned as a list of :class:`analysis.errors.Problem`; the caller raises one
:class:`analysis.errors.InputValidationError` listing all of them. Before that,
:func:`consolidate` keeps root causes only (knock-on problems counted in them) and
:func:`mask_identifiers` hides every value that may identify a person.

Masking rule (docs/data-dictionary.md): a value is shown only if it cannot identify a person.
Never shown are the values of identifier columns (``patient_id``, ``episode_id``, ``clinic_id``,
``injector_id``) and of columns outside the contract; every value in a row whose identifier
failed a rule (missing, duplicate, not found: e.g. the header labels of ``sex`` and
``patient_id`` swapped); any value equal to an identifier anywhere in the export; and any value
shaped like a record number (letters, then five or more digits: ``PAT-100001``, ``0012345``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable

import numpy as np
import pandas as pd
import pandera.pandas as pa

from analysis.data.ingest import Mapping, RawTables
from analysis.data.prepare_config import PrepareConfig
from analysis.data.problems import (
    MOST_ROWS_MIN,
    breaks_most_rows,
    cell_problems,
    column_problem,
)
from analysis.data.processed import CUTOFF_SOURCES
from analysis.data.readers import looks_like_identifier, sheet_of_rows
from analysis.data.schema import (
    IDENTIFIER_COLUMNS,
    MASK,
    PANDERA_RULES,
    build_schemas,
)
from analysis.errors import Problem

#: Where the data cut-off came from (``study_period.json`` ``source``).
CUTOFF_FROM_PARAMS, CUTOFF_FROM_EXPORT = CUTOFF_SOURCES


def resolve_cutoff(
    cfg: PrepareConfig, mapping: Mapping
) -> tuple[pd.Timestamp | None, str | None, list[Problem]]:
    """The data cut-off: ``data.cutoff_date``, else the export date of mapping.yaml.

    Never the latest date found in the data: a mistyped future date would move it (and with
    it the censoring of every episode); dates after the cut-off are problems instead.

    Returns
    -------
    cutoff, source, problems
        The cut-off (``None`` if neither is given), :data:`CUTOFF_FROM_PARAMS` or
        :data:`CUTOFF_FROM_EXPORT`, and the problems (cut-off unknown, or after the export).
    """
    export = mapping.export_date
    if cfg.cutoff_date is not None:
        cutoff = pd.Timestamp(cfg.cutoff_date).normalize()
        problems = []
        if export is not None and cfg.cutoff_date > export:
            problems.append(
                Problem(
                    "params.yaml",
                    None,
                    "data.cutoff_date",
                    cfg.cutoff_date.isoformat(),
                    f"the data cut-off is after the export date {export.isoformat()} "
                    "(mapping.yaml export_date): no episode can be followed beyond the day the "
                    "data were exported",
                )
            )
        return cutoff, CUTOFF_FROM_PARAMS, problems
    if export is not None:
        return pd.Timestamp(export), CUTOFF_FROM_EXPORT, []
    rule = (
        "the data cut-off is unknown: give the day the data were exported as "
        "export_date: YYYY-MM-DD in the export's mapping.yaml, or set data.cutoff_date in "
        "params.yaml (the latest date in the data is never used: one mistyped date would move it)"
    )
    return None, None, [Problem("mapping.yaml", None, "export_date", None, rule)]


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


def schema_problems(
    raw: RawTables, cfg: PrepareConfig, cutoff: pd.Timestamp | None
) -> list[Problem]:
    """Run the pandera schema of each table (types, ranges, codes, missing values, uniqueness).

    Columns already reported as a whole (missing, duplicated, undeclared date format) are
    skipped so that one such column gives one problem. Without a cut-off, the latest plausible
    birth year is this year's.
    """
    last_year = int(cutoff.year) if cutoff is not None else dt.date.today().year
    schemas = build_schemas(
        regions=cfg.regions,
        products=cfg.products,
        complication_types=cfg.complication_types,
        birth_year_range=(cfg.birth_year_min, last_year),
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
    """A problem per failing row, or one for the column when most rows fail."""
    return cell_problems(file, column, mask, values, rule, _shown)


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


class KnockOn:
    """Knock-on problems counted against their root cause (with the files they are in)."""

    def __init__(self) -> None:
        self.count: Counter = Counter()
        self.files: defaultdict[Problem, set[str]] = defaultdict(set)

    def add(self, root: Problem, n: int, file: str) -> None:
        if n:
            self.count[root] += n
            self.files[root].add(file)

    def applied(self, p: Problem) -> Problem:
        """``p`` with its knock-on count (and files) added."""
        if not self.count[p]:
            return p
        files = tuple(sorted(set(p.knock_on_files) | self.files[p]))
        return dataclasses.replace(p, knock_on=p.knock_on + self.count[p], knock_on_files=files)


def _column_roots(problems: list[Problem]) -> dict[tuple[str, str], Problem]:
    """Column-level problems (no row) by (file, column): the first one of each column."""
    roots: dict[tuple[str, str], Problem] = {}
    for p in problems:
        if p.row is None and p.column:
            roots.setdefault((p.file, p.column), p)
    return roots


def reference_problems(
    raw: RawTables,
    pos: dict[str, np.ndarray],
    knock_on: KnockOn | None = None,
    earlier: list[Problem] | None = None,
) -> list[Problem]:
    """Referential integrity: treatments -> patients, assessments/complications -> treatments.

    References to a table that could not be read, or whose key column is missing, are not
    listed: they are counted in ``knock_on`` against that root cause. So are references not
    found in a table some of whose rows were not read (a rejected workbook sheet), or whose
    own key is missing or duplicated in some rows (``earlier`` problems: the references most
    likely meant those rows). References not found in most rows are one problem of the key
    column (a wrong column named or mapped as the key).
    """
    knock_on = KnockOn() if knock_on is None else knock_on
    col_roots = _column_roots(raw.problems)
    problems: list[Problem] = []
    links = [
        ("treatments", "patient_id", "patients"),
        ("assessments", "episode_id", "treatments"),
        ("complications", "episode_id", "treatments"),
    ]
    for child, col, parent in links:
        if child not in raw.tables:
            continue
        keys = raw.tables[child][col]
        has_key = keys.notna().to_numpy()
        root = raw.roots.get(parent) or col_roots.get((raw.files.get(parent, ""), col))
        if parent not in raw.tables or root is not None:
            if root is not None:
                knock_on.add(root, int(has_key.sum()), raw.files[child])
            continue
        unknown = has_key & (pos[child] < 0)
        n_unknown, n_keyed = int(unknown.sum()), int(has_key.sum())
        if parent in raw.incomplete:
            knock_on.add(raw.incomplete[parent], n_unknown, raw.files[child])
            continue
        if breaks_most_rows(n_unknown, n_keyed):
            root = Problem(
                raw.files[parent],
                None,
                col,
                None,
                f"{n_unknown:,} of {n_keyed:,} rows of {raw.files[child]} refer to a {col} that "
                f"is not in this file: is the right column named (or mapped) '{col}' here and "
                f"in {raw.files[child]}?",
            )
            problems.append(root)
            knock_on.add(root, n_unknown, raw.files[child])
            continue
        key_failed = [
            p for p in earlier or [] if p.file == raw.files[parent] and p.column == col and p.row
        ]
        if key_failed:
            knock_on.add(key_failed[0], n_unknown, raw.files[child])
            continue
        rule = f"{col} not found in {parent} ({raw.files[parent]})"
        problems += _rows(raw.files[child], col, unknown, keys, rule)
    return problems


def date_problems(
    raw: RawTables, cutoff: pd.Timestamp | None, pos: dict[str, np.ndarray]
) -> list[Problem]:
    """Dates in order: nothing before its treatment, resolution not before onset, nothing
    (treatment, visit, report, onset) after the data cut-off; a resolution may lie after it.

    Without a cut-off (a problem of its own) nothing is compared with it.
    """
    t = raw.tables
    problems: list[Problem] = []
    if "treatments" not in t:
        return problems
    tr = t["treatments"]
    if cutoff is None:
        cutoff = pd.Timestamp.max
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
        known = region.isin(cfg.regions) & c["complication_type"].isin(cfg.complication_types)
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


def consolidate(
    problems: list[Problem],
    knock_on: KnockOn | None = None,
    in_play: Callable[[str, str, list[Problem]], int] | None = None,
) -> list[Problem]:
    """Root causes only, each with the number of knock-on problems it explains.

    - A column-level problem (no row: missing, duplicated, undeclared date format) explains
      every row problem in that column of that file.
    - A row-level problem (no column: a row that could not be split into cells) replaces every
      other problem in that row (they come from its cells being unusable; not counted).
    - A cell is reported once, by the first rule it breaks (an unreadable number is not also
      "required value is missing").
    - A rule broken in most cells of a column (``in_play``, see :func:`_column_wide`) is one
      problem of the column, the rows its knock-on problems.
    """
    knock_on = KnockOn() if knock_on is None else knock_on
    col_roots = _column_roots(problems)
    row_roots: dict[tuple[str, int], Problem] = {}
    for p in problems:
        if p.row is not None and not p.column:
            row_roots.setdefault((p.file, p.row), p)
    kept: list[Problem] = []
    seen: set[tuple[str, int | None, str | None]] = set()
    for p in problems:
        if p.row is not None and p.column:
            if (p.file, p.row) in row_roots:
                continue
            root = col_roots.get((p.file, p.column))
            if root is not None:
                knock_on.add(root, 1, p.file)
                continue
            cell = (p.file, p.row, p.column)
            if cell in seen:
                continue
            seen.add(cell)
        kept.append(p)
    kept = list(dict.fromkeys(kept))
    if in_play is not None:
        kept = _column_wide(kept, in_play, knock_on)
    return [knock_on.applied(p) for p in kept]


def _column_wide(
    problems: list[Problem], in_play: Callable[[str, str, list[Problem]], int], knock_on: KnockOn
) -> list[Problem]:
    """One problem for a rule broken in most cells of a column (a wrong column, not wrong rows).

    ``in_play(file, column, members)`` counts the column's non-empty cells plus the empty ones
    among ``members``; a rule broken in more than half of them (:mod:`analysis.data.problems`)
    becomes one column-level problem, the other rows its knock-on problems.
    """
    groups: dict[tuple[str, str, str], list[Problem]] = {}
    for p in problems:
        if p.row is not None and p.column:
            groups.setdefault((p.file, p.column, p.rule), []).append(p)
    merged: dict[Problem, Problem] = {}
    for (file, column, rule), members in groups.items():
        if len(members) < MOST_ROWS_MIN:
            continue
        total = in_play(file, column, members)
        if not breaks_most_rows(len(members), total):
            continue
        first = members[0]
        assert first.row is not None
        root = column_problem(file, column, len(members), total, first.row, first.value, rule)
        for p in members:
            merged[p] = root
    out, emitted = [], set()
    for p in problems:
        column_root = merged.get(p)
        if column_root is None:
            out.append(p)
        elif column_root not in emitted:
            emitted.add(column_root)
            out.append(column_root)
    return out


def failed_identifier_rows(problems: list[Problem]) -> set[tuple[str, int]]:
    """(file, row) of every row whose identifier cell broke a rule."""
    return {
        (p.file, p.row) for p in problems if p.row is not None and p.column in IDENTIFIER_COLUMNS
    }


def mask_identifiers(
    problems: list[Problem], raw: RawTables, failed_rows: set[tuple[str, int]] | None = None
) -> list[Problem]:
    """Hide every value that may identify a person (the rule is in the module docstring).

    ``failed_rows`` defaults to :func:`failed_identifier_rows` of ``problems``; pass the rows
    found before :func:`consolidate` so that knock-on identifier problems still count.
    """
    if failed_rows is None:
        failed_rows = failed_identifier_rows(problems)
    shown = {p.value for p in problems if p.value not in (None, MASK)}
    identifiers: set[str] = set()
    if shown:
        for df in raw.tables.values():
            for col in IDENTIFIER_COLUMNS & set(df.columns):
                ids = df[col]
                identifiers |= set(ids[ids.isin(shown)].astype(str))

    def hide(p: Problem) -> bool:
        return p.value not in (None, MASK) and (
            (p.file, p.row) in failed_rows
            or p.value in identifiers
            or looks_like_identifier(p.value)
        )

    return [dataclasses.replace(p, value=MASK) if hide(p) else p for p in problems]


def locate_rows(problems: list[Problem], raw: RawTables) -> list[Problem]:
    """Rows of a workbook with several sheets as (sheet, row in sheet); physical CSV lines."""
    table_of = {file: table for table, file in raw.files.items()}
    out = []
    for p in problems:
        table = table_of.get(p.file)
        if p.row is None or table is None:
            out.append(p)
            continue
        i = p.row - 1
        if table in raw.lines and p.line is None and i < len(raw.lines[table]):
            p = dataclasses.replace(p, line=int(raw.lines[table][i]))
        if len(raw.parts.get(table, ())) > 1:
            for sheet, start, n in sheet_of_rows(raw.parts[table]):
                if start <= i < start + n:
                    p = dataclasses.replace(p, file=f"{p.file}, sheet '{sheet}'", row=i - start + 1)
                    break
        out.append(p)
    return out


def _in_play(raw: RawTables) -> Callable[[str, str, list[Problem]], int]:
    """Cells of a column in play for a rule: the non-empty ones and the failing empty ones."""
    table_of = {file: table for table, file in raw.files.items()}

    def count(file: str, column: str, members: list[Problem]) -> int:
        df = raw.tables.get(table_of.get(file, ""))
        if df is None or column not in df.columns:
            return len(members)
        empty = df[column].isna().to_numpy()
        rows = np.array([p.row - 1 for p in members if p.row is not None], dtype=np.int64)
        rows = rows[rows < len(empty)]
        return int((~empty).sum() + empty[rows].sum())

    return count


def validate(raw: RawTables, cfg: PrepareConfig, cutoff: pd.Timestamp | None) -> list[Problem]:
    """Every root problem of an export: parsing, schema, references, dates, plausibility.

    Returns
    -------
    list of Problem
        Root causes (knock-on problems counted in them, :func:`consolidate`), values masked
        (:func:`mask_identifiers`), sorted by file, row and column; empty when the export is
        valid.
    """
    knock_on = KnockOn()
    problems = list(raw.problems)
    problems += schema_problems(raw, cfg, cutoff)
    pos = parent_positions(raw)
    problems += reference_problems(raw, pos, knock_on, problems)
    problems += date_problems(raw, cutoff, pos)
    problems += clinical_problems(raw, cfg, pos)
    failed_rows = failed_identifier_rows(problems)
    problems = mask_identifiers(consolidate(problems, knock_on, _in_play(raw)), raw, failed_rows)
    order = {f: i for i, f in enumerate(raw.files.values())}
    problems = sorted(
        problems,
        key=lambda p: (order.get(p.file, -1), p.row or 0, p.column or "", p.rule),
    )
    return locate_rows(problems, raw)
