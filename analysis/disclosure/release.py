"""Releasing a study: from the analyst copies under ``data/results`` to ``reports/``.

:func:`release` reads the analyst manifest of every stage, builds one attacker's LP over every
count any of them releases (:class:`~analysis.disclosure.model.LinkedTables`), suppresses and
audits (:func:`~analysis.disclosure.protect.protect`), then writes for each stage:

- every table, with suppressed counts and the values computed from them in the same row
  (``derived_columns``; by default ``observed_*``, ``*_crude_*``, ``raw_*``) shown as
  :data:`~analysis.disclosure.rules.SUPPRESSED`, and ``withheld_columns`` left out;
- every figure: a figure of counts (``draw``) redrawn from the released tables (suppressed
  values are NaN, so they are not drawn, and the caption says so), any other copied;
- the manifest, without the declarations and cubes, without a headline that repeats a
  suppressed count; the describe stage's manifest also names the audit table.

Nothing is written under ``out`` unless every primary cell passed the audit.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.disclosure.config import DisclosureConfig
from analysis.disclosure.model import SHOWN, DisclosureError, LinkedTables, TableDecl
from analysis.disclosure.protect import ComplementError, Protection, protect
from analysis.disclosure.rules import SUPPRESSED
from analysis.disclosure.spec import Count
from analysis.io import write_json, write_table
from analysis.manifest import (
    MANIFEST_FILE,
    FigureRef,
    Headline,
    Manifest,
    Section,
    TableRef,
    load_manifest,
)
from analysis.outputs import resolve_function

#: Columns treated as computed from a row's counts when a table declares no derived columns.
OBSERVED_COLUMN = re.compile(r"(^|_)(observed|crude|raw)(_|$)")
FIGURE_NOTE = "Values withheld by disclosure control are not drawn."
#: " (12.3%)" after a count in a text cell
PERCENT = re.compile(r"\s*\([^()]*%\)")
#: a count written in a sentence: "5,000 patients", "21835 treatment episodes", "12 events"
COUNT_IN_TEXT = re.compile(
    r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+)\s+(?:treatment\s+)?"
    r"(?:patients|episodes|treatments|events|complications)\b"
)
AUDIT_STEM = "disclosure_audit"


@dataclass(frozen=True)
class Released:
    """What :func:`release` did: the model, the protection and the audit table."""

    model: LinkedTables
    protection: Protection
    audit: pd.DataFrame
    metrics: dict[str, Any]


def derived_of(ref: TableRef, frame: pd.DataFrame) -> tuple[str, ...]:
    """The table's derived columns (declared, or the observed/crude/raw ones)."""
    if ref.derived_columns is not None:
        return ref.derived_columns
    return tuple(c for c in frame.columns if OBSERVED_COLUMN.search(str(c)))


def read_analyst_table(man: Manifest, ref: TableRef) -> pd.DataFrame:
    """The analyst copy of a table (Parquet beside the CSV the manifest names)."""
    parquet = man.path(ref.path).with_suffix(".parquet")
    return pd.read_parquet(parquet) if parquet.exists() else pd.read_csv(man.path(ref.path))


def tables_of(man: Manifest) -> list[TableRef]:
    """Every table a stage wrote: its registry, and any shown table or data-quality table the
    registry misses (a manifest written by hand); a count column without a declaration is an
    own count."""
    found: dict[str, TableRef] = {t.path: t for t in man.tables}
    shown = [t for sec in man.sections for t in sec.tables]
    for ref in [*shown, *([man.data_quality] if man.data_quality else [])]:
        if ref.path not in found:
            found[ref.path] = ref
    out = []
    for ref in found.values():
        declared = {c.column for c in ref.counts}
        own = tuple(Count(c) for c in ref.count_columns if c not in declared)
        out.append(replace(ref, counts=(*ref.counts, *own)) if own else ref)
    return out


def figures_of(man: Manifest) -> list[FigureRef]:
    """Every figure a stage wrote (registry, and shown figures the registry misses)."""
    found: dict[str, FigureRef] = {f.path: f for f in man.figures}
    for sec in man.sections:
        for fig in sec.figures:
            found.setdefault(fig.path, fig)
    return list(found.values())


def table_name(man: Manifest, ref: TableRef) -> str:
    """How a table is named in the model and in messages: ``<stage dir>/<stem>``."""
    return f"{man.name}/{Path(ref.path).stem}"


def release(results: Path, out: Path, stages: list[str], config: DisclosureConfig) -> Released:
    """Protect every stage's counts together and write the released copies under ``out``.

    Parameters
    ----------
    results
        Directory of the analyst copies (``data/results``), one subdirectory per stage.
    out
        Directory of the released copies (``reports``); ``out/<stage>`` is replaced.
    stages
        Stage directories, in reading order.
    config
        Threshold and protection width.
    """
    manifests = [load_manifest(results / s) for s in stages]
    try:
        return _release(manifests, out, config)
    except ComplementError:
        if not any(ref.mixes for man in manifests for ref in tables_of(man)):
            raise
    # A provider's region-mix benchmark (a count-weighted average over its regions) can pin
    # its counts per region in a small cohort so that no complement set protects a small
    # count: withhold those averages (they stay in data/results) and protect without them.
    released = _release([_without_mixes(man) for man in manifests], out, config)
    released.metrics["region_mix_columns_withheld"] = True
    return released


def _without_mixes(man: Manifest) -> Manifest:
    """``man`` with every declared mix column withheld from the released tables."""

    def drop(ref: TableRef) -> TableRef:
        if not ref.mixes:
            return ref
        columns = tuple(m.column for m in ref.mixes)
        return replace(ref, withheld_columns=(*ref.withheld_columns, *columns), mixes=())

    sections = tuple(
        replace(sec, tables=tuple(drop(t) for t in sec.tables)) for sec in man.sections
    )
    return replace(man, sections=sections, tables=tuple(drop(t) for t in man.tables))


def _release(manifests: list[Manifest], out: Path, config: DisclosureConfig) -> Released:
    frames: dict[str, pd.DataFrame] = {}
    decls, cubes = [], []
    for man in manifests:
        cubes += [(ref, pd.read_parquet(man.path(ref.path))) for ref in man.cubes]
        for ref in tables_of(man):
            name = table_name(man, ref)
            frames[name] = read_analyst_table(man, ref)
            if ref.counts:
                decls.append(
                    TableDecl(name, frames[name], ref.counts, ref.sums, ref.below, ref.mixes)
                )
    model = LinkedTables(cubes, decls)
    protection = protect(model, config)
    audit_rows = protection.audit
    could_be_small = audit_rows["lower"] < config.min_count - 1e-6
    narrow = audit_rows["width"] < config.protection_width - 1e-6
    failing = audit_rows.loc[narrow & (could_be_small | audit_rows["primary"])]
    if len(failing):
        where = model.cells[int(failing["cell"].iloc[0])].where()
        raise DisclosureError(f"{where}: the audit found a suppressed count narrowed below range")
    audit = audit_table(model, protection, config)
    metrics = audit_metrics(model, protection, config)
    for man in manifests:
        _check_texts(man, model, protection.status, config.min_count)
    for man in manifests:
        _write_stage(man, frames, model, protection.status, out / man.name, audit)
    return Released(model, protection, audit, metrics)


def released_cells(model: LinkedTables) -> int:
    """Count cells shown in a table (a count is one cell wherever it appears; the zeros that
    a table implies by leaving a row out are not counted)."""
    return sum(any(row >= 0 for _, row, _ in cell.locations) for cell in model.cells)


def audit_table(
    model: LinkedTables, protection: Protection, config: DisclosureConfig
) -> pd.DataFrame:
    """The audit as shown in the report's data-quality section (one row per figure)."""
    rows = [
        ("count cells released", released_cells(model)),
        (f"suppressed: counts from 1 to {config.min_count - 1} (primary)", protection.n_primary),
        ("suppressed: complements (secondary)", protection.n_secondary),
        (
            "narrowest feasible interval of a suppressed count that could be small (counts)",
            protection.min_width(config.min_count),
        ),
        ("protection width required (counts)", config.protection_width),
    ]
    return pd.DataFrame(rows, columns=["measure", "value"])


def audit_metrics(
    model: LinkedTables, protection: Protection, config: DisclosureConfig
) -> dict[str, Any]:
    """Small metrics file of the disclosure stage (``dvc metrics show``)."""
    return {
        "count_cells": released_cells(model),
        "primary_suppressed": protection.n_primary,
        "secondary_suppressed": protection.n_secondary,
        "min_feasible_width": protection.min_width(config.min_count),
        "protection_width": config.protection_width,
        "min_count": config.min_count,
        "linear_programs": protection.n_lp,
        "region_mix_columns_withheld": False,
    }


# ------------------------------------------------------------------------------------------
# Writing one stage
# ------------------------------------------------------------------------------------------
def _released_frames(
    ref: TableRef, name: str, frame: pd.DataFrame, model: LinkedTables, status: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(shown copy with labels, numeric copy with NaN, number of suppressed count cells)."""
    shown = frame.reset_index(drop=True).copy()
    numeric = shown.copy()
    hit = np.zeros(len(shown), dtype=bool)
    n_suppressed = 0
    for col in ref.count_columns:
        text = any(c.text for c in ref.counts if c.column == col)
        mask = np.zeros(len(shown), dtype=bool)
        for pos in range(len(shown)):
            cell = model.cell_of.get((name, pos, col))
            if cell is not None and status[cell] != SHOWN:
                mask[pos] = True
        if mask.any() and text:  # the column's percentages share a denominator: drop them
            counted = [(name, pos, col) in model.cell_of for pos in range(len(shown))]
            shown[col] = [
                PERCENT.sub("", v) if isinstance(v, str) and c else v
                for v, c in zip(shown[col], counted, strict=True)
            ]
        if mask.any():
            n_suppressed += int(mask.sum())
            shown[col] = _labelled(shown[col], mask)
            numeric[col] = numeric[col].astype(object)
            numeric.loc[mask, col] = np.nan
        if not text:
            numeric[col] = pd.to_numeric(numeric[col], errors="coerce")
        hit |= mask
    if hit.any():
        for col in derived_of(ref, frame):
            shown[col] = _labelled(shown[col], hit)
            numeric[col] = numeric[col].where(~hit)
    drop = list(ref.withheld_columns)
    return shown.drop(columns=drop), numeric.drop(columns=drop), n_suppressed


def _labelled(values: pd.Series, mask: np.ndarray) -> pd.Series:
    """``values`` as text (numbers as the CSV writer prints them) with the label where
    ``mask``: one type per column, so that the Parquet copy can be written."""

    def text(v: Any) -> Any:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, bool | np.bool_):
            return str(bool(v))
        if isinstance(v, int | np.integer):
            return str(int(v))
        if isinstance(v, float | np.floating):
            return str(int(v)) if float(v).is_integer() else f"{float(v):.6g}"
        return str(v)

    out = values.map(text).astype(object)
    out[mask] = SUPPRESSED
    return out


def _released_ref(ref: TableRef, frame: pd.DataFrame) -> TableRef:
    """The released table's reference: a column with rows that hold no count (a number of
    clinics, a median in Table 1) is not listed as a count column, so that the report's
    check does not mistake those rows for counts."""
    derived = derived_of(ref, frame)
    mixed = {c.column for c in ref.counts if c.exempt}
    return TableRef(
        path=ref.path,
        caption=ref.caption,
        count_columns=tuple(c for c in ref.count_columns if c not in mixed),
        derived_columns=tuple(c for c in derived if c not in ref.withheld_columns),
        latex=ref.latex,
    )


def _withheld_values(
    name: str, ref: TableRef, frame: pd.DataFrame, model: LinkedTables, status: np.ndarray
) -> set[float]:
    """The true values of every suppressed count of a table and of the derived values withheld
    with them (a headline repeating one would give it back)."""
    values = set()
    frame = frame.reset_index(drop=True)
    derived = derived_of(ref, frame)
    for pos in range(len(frame)):
        hit = False
        for col in ref.count_columns:
            cell = model.cell_of.get((name, pos, col))
            if cell is not None and status[cell] != SHOWN:
                values.add(float(model.values[cell]))
                hit = True
        if hit:
            for col in derived:
                number = pd.to_numeric(pd.Series([frame.at[pos, col]]), errors="coerce").iloc[0]
                if pd.notna(number):
                    values.add(float(number))
    return values


def _keep_headline(head: Headline, withheld: set[float]) -> bool:
    """False if the headline repeats a withheld value of its source table (to 1e-9)."""
    for v in (head.value, head.lower, head.upper):
        if isinstance(v, int | float) and not isinstance(v, bool):
            if any(abs(float(v) - w) <= 1e-9 * max(1.0, abs(w)) for w in withheld):
                return False
    return True


def _write_stage(
    man: Manifest,
    frames: dict[str, pd.DataFrame],
    model: LinkedTables,
    status: np.ndarray,
    target: Path,
    audit: pd.DataFrame,
) -> None:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    released: dict[str, TableRef] = {}
    numeric: dict[str, pd.DataFrame] = {}
    suppressed_in: dict[str, int] = {}
    withheld_values: dict[str, set[float]] = {}
    for ref in tables_of(man):
        name = table_name(man, ref)
        stem = Path(ref.path).stem
        shown, numbers, n_sup = _released_frames(ref, name, frames[name], model, status)
        write_table(shown, target / stem)
        released[ref.path] = _released_ref(ref, frames[name])
        numeric[stem] = numbers
        suppressed_in[stem] = n_sup
        withheld_values[ref.path] = _withheld_values(name, ref, frames[name], model, status)
    captions = {}
    for fig in figures_of(man):
        captions[fig.path] = _write_figure(man, fig, numeric, suppressed_in, target)
    sections = tuple(
        Section(
            view=sec.view,
            title=sec.title,
            text=sec.text,
            tables=tuple(
                replace(released[t.path], caption=t.caption, latex=t.latex) for t in sec.tables
            ),
            figures=tuple(
                FigureRef(path=f.path, caption=captions.get(f.path, f.caption), alt=f.alt)
                for f in sec.figures
            ),
        )
        for sec in man.sections
    )
    headlines = tuple(
        h for h in man.headlines if _keep_headline(h, withheld_values.get(h.source, set()))
    )
    audit_ref = None
    if man.data_quality is not None:
        write_table(audit, target / AUDIT_STEM)
        audit_ref = TableRef(
            path=f"{AUDIT_STEM}.csv",
            caption="Disclosure control: cells suppressed and the attacker's narrowest interval",
        )
    dq = man.data_quality
    result = Manifest(
        stage=man.stage,
        title=man.title,
        methods=man.methods,
        sections=sections,
        headlines=headlines,
        directory=target,
        data_cutoff=man.data_cutoff,
        data_quality=None if dq is None else replace(released[dq.path], caption=dq.caption),
        disclosure_audit=audit_ref,
        extra=man.extra,
    )
    write_json(result.to_json(), target / MANIFEST_FILE)


#: words before a number that make it a threshold of a rule rather than a count
THRESHOLD_WORDS = (
    "than ",
    "least ",
    "most ",
    "below ",
    "above ",
    "under ",
    "over ",
    "<",
    ">",
    "≥",
    "≤",
)


def _texts(man: Manifest) -> list[tuple[str, str]]:
    """(where, text) of every sentence a stage's manifest shows."""
    out = [("methods", man.methods)]
    for sec in man.sections:
        out.append((f"section {sec.title!r}", sec.text))
        out += [(f"caption of {t.path}", t.caption) for t in sec.tables]
        out += [(f"caption of {f.path}", f.caption) for f in sec.figures]
    out += [(f"headline {h.key}", h.label) for h in man.headlines]
    return out


def _check_texts(man: Manifest, model: LinkedTables, status: np.ndarray, min_count: int) -> None:
    """Refuse a manifest whose text repeats a suppressed count of the same stage.

    A count is a number followed by what it counts ("224 treatment episodes"); only counts of
    at least ``min_count`` are compared. Stages keep counts out of their texts (the methods
    point at the tables); this catches a total that had to be withheld.
    """
    prefix = f"{man.name}/"
    hidden = {
        int(cell.value)
        for cell, st in zip(model.cells, status, strict=True)
        if st != SHOWN
        and cell.value >= min_count
        and any(loc[0].startswith(prefix) for loc in cell.locations)
    }
    if not hidden:
        return
    for where, text in _texts(man):
        for match in COUNT_IN_TEXT.finditer(text or ""):
            before = (text or "")[max(0, match.start() - 12) : match.start()].lower()
            if any(word in before for word in THRESHOLD_WORDS):
                continue  # a rule ("fewer than 50 treatments"), not a count
            if int(match.group(1).replace(",", "")) in hidden:
                raise DisclosureError(
                    f"{man.name}/manifest.json, {where}: the text repeats a count that is "
                    "suppressed in the stage's tables; refer to the table instead"
                )


def _write_figure(
    man: Manifest,
    fig: FigureRef,
    numeric: dict[str, pd.DataFrame],
    suppressed_in: dict[str, int],
    target: Path,
) -> str:
    """Write one released figure; returns its caption."""
    if fig.draw is None:
        shutil.copyfile(man.path(fig.path), target / fig.path)
        return fig.caption
    from analysis.figures.theme import save_figure, theme

    tables = {arg: numeric[stem] for arg, stem in fig.draw.tables}
    with theme():
        drawn = resolve_function(fig.draw.function)(**tables, **fig.draw.kwargs)
        save_figure(drawn, target / fig.path)
    if any(suppressed_in.get(stem, 0) for _, stem in fig.draw.tables):
        return f"{fig.caption} {FIGURE_NOTE}".strip()
    return fig.caption
