"""A clinic's mapping file: its own file names, columns, labels, formats and export date.

``mapping.yaml`` (in the export directory, or ``--mapping`` / ``data.mapping``) is the one place
where a clinic declares how its export differs from the canonical contract
(docs/data-dictionary.md, section 2). Every key is optional; an unknown key, table, column or
vocabulary, or an invalid encoding, delimiter, date or time zone stops with a problem naming it.
"""

from __future__ import annotations

import codecs
import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from analysis.data.schema import MAPPABLE_VALUES, TABLE_NAMES, TABLES
from analysis.errors import InputValidationError, Problem

MAPPING_FILE_NAME = "mapping.yaml"
MAPPING_KEYS = {
    "files",
    "columns",
    "values",
    "date_format",
    "encoding",
    "delimiter",
    "timezone",
    "sheets",
    "export_date",
}


@dataclass(frozen=True)
class Mapping:
    """A clinic's own vocabulary and formats, translated to the canonical contract.

    Attributes
    ----------
    files : dict
        Table -> file name inside the input directory (default ``<table>.<ext>``).
    columns : dict
        Table -> {clinic column name: canonical column name}.
    values : dict
        Vocabulary (``region``, ``product``, ``complication_type``, ``sex``,
        ``complication_severity``) -> {clinic label: canonical code}.
    date_format : str or None
        ``strftime`` format of text dates (default ISO 8601, ``YYYY-MM-DD``). Required when
        dates are written day/month style (``07/02/2022``), whose order is ambiguous.
    encoding : str or None
        Text encoding of CSV files (a Python codec name such as ``cp1252``; default UTF-8).
    delimiter : str or None
        CSV cell separator (default ``,``).
    timezone : str or None
        IANA time zone of the clinic (``Europe/Berlin``): timestamps with a UTC offset are
        converted to it before their date is taken. Without it, the date written in the
        timestamp is the date (exports write local time with its offset).
    sheets : dict
        Table -> sheet names of its workbook to read (default: every sheet).
    export_date : datetime.date or None
        The day the data were exported: the data cut-off unless ``data.cutoff_date`` is set.
    """

    files: dict[str, str] = field(default_factory=dict)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    date_format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    timezone: str | None = None
    sheets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    export_date: dt.date | None = None


def load_mapping(path: Path | None) -> Mapping:
    """Read a mapping YAML file (see docs/data-dictionary.md); ``None`` gives the identity.

    Raises
    ------
    InputValidationError
        If the file names unknown sections, tables, canonical columns or vocabularies, or
        holds an invalid encoding, delimiter, time zone, sheet list or export date.
    """
    if path is None:
        return Mapping()
    path = Path(path)
    name = path.name
    try:
        with path.open(encoding="utf-8") as fh:
            raw = yaml.safe_load(fh) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = type(exc).__name__ if not isinstance(exc, OSError) else exc.strerror
        raise InputValidationError(
            [Problem(name, None, None, None, f"cannot read mapping ({reason})")]
        ) from None
    problems = _check_mapping(raw, name)
    if problems:
        raise InputValidationError(problems)
    return Mapping(
        files={k: str(v) for k, v in (raw.get("files") or {}).items()},
        columns={
            t: {str(k): str(v) for k, v in m.items()} for t, m in (raw.get("columns") or {}).items()
        },
        values={
            t: {str(k): str(v) for k, v in m.items()} for t, m in (raw.get("values") or {}).items()
        },
        date_format=raw.get("date_format"),
        encoding=raw.get("encoding"),
        delimiter=raw.get("delimiter"),
        timezone=raw.get("timezone"),
        sheets={t: tuple(str(s) for s in v) for t, v in (raw.get("sheets") or {}).items()},
        export_date=_as_date(raw.get("export_date")),
    )


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    return dt.date.fromisoformat(str(value))


def _check_mapping(raw: Any, name: str) -> list[Problem]:
    if not isinstance(raw, dict):
        return [Problem(name, None, None, None, "mapping file must hold a YAML mapping")]
    problems = [
        Problem(
            name, None, None, key, f"unknown section; allowed: {', '.join(sorted(MAPPING_KEYS))}"
        )
        for key in raw
        if key not in MAPPING_KEYS
    ]
    for section in ("files", "sheets"):
        for table in raw.get(section) or {}:
            if table not in TABLE_NAMES:
                problems.append(Problem(name, None, None, str(table), f"{section}: unknown table"))
    for table, sheets in (raw.get("sheets") or {}).items():
        if not isinstance(sheets, list) or not sheets:
            problems.append(
                Problem(name, None, None, str(table), "sheets: give a list of sheet names")
            )
    for table, cols in (raw.get("columns") or {}).items():
        if table not in TABLE_NAMES:
            problems.append(Problem(name, None, None, str(table), "columns: unknown table"))
            continue
        canonical = {c.name for c in TABLES[table]}
        for target in (cols or {}).values():
            if target not in canonical:
                problems.append(
                    Problem(
                        name,
                        None,
                        None,
                        str(target),
                        f"columns.{table}: not a canonical column ({', '.join(sorted(canonical))})",
                    )
                )
    for vocab in raw.get("values") or {}:
        if vocab not in MAPPABLE_VALUES:
            problems.append(
                Problem(
                    name,
                    None,
                    None,
                    str(vocab),
                    f"values: unknown vocabulary; allowed: {', '.join(sorted(MAPPABLE_VALUES))}",
                )
            )
    return problems + _check_formats(raw, name)


def _check_formats(raw: dict, name: str) -> list[Problem]:
    """Encoding, delimiter, time zone, date format and export date, each checked as a value."""
    problems = []

    def bad(key: str, rule: str) -> None:
        problems.append(Problem(name, None, key, str(raw[key]), rule))

    if raw.get("encoding") is not None:
        try:
            codecs.lookup(str(raw["encoding"]))
        except LookupError:
            bad("encoding", "unknown text encoding (e.g. utf-8, cp1252, latin-1)")
    delimiter = raw.get("delimiter")
    if delimiter is not None and (
        not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n'
    ):
        bad("delimiter", "must be one character other than a quote or a line break, e.g. ';'")
    if raw.get("timezone") is not None:
        try:
            zoneinfo.ZoneInfo(str(raw["timezone"]))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            bad("timezone", "unknown time zone; give an IANA name such as Europe/Berlin")
    fmt = raw.get("date_format")
    if fmt is not None and (not isinstance(fmt, str) or "%" not in fmt):
        bad("date_format", "must be a strftime format such as '%d/%m/%Y'")
    if raw.get("export_date") is not None:
        try:
            _as_date(raw["export_date"])
        except ValueError:
            bad("export_date", "must be a date YYYY-MM-DD")
    return problems


def default_mapping_path(input_dir: Path) -> Path | None:
    """``input_dir/mapping.yaml`` if it exists, else ``None``."""
    path = Path(input_dir) / MAPPING_FILE_NAME
    return path if path.exists() else None
