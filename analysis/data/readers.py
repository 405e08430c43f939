"""Reading one export file (CSV, Parquet, Excel) into cells, or saying exactly why not.

A file that cannot be read at all raises :class:`ReadFailure` carrying one
:class:`~analysis.errors.Problem` (the root cause: empty file, wrong delimiter, text that is not
in the declared encoding, a workbook sheet with another header); rows that cannot be split into
the header's cells are kept at their place (so that later row numbers stay right) and reported
one by one. No reader error message is ever shown as it is: it may quote cells.

CSV files are parsed by Arrow with ``newlines_in_values=True`` (quoted line breaks are valid
CSV; with the default ``False`` Arrow splits its 1 MB blocks at any newline, so a quoted line
break that falls on a block boundary broke the file at some sizes only). When Arrow cannot
read a file, Python's :mod:`csv` reads it again to locate the problem (row, line, column).
"""

from __future__ import annotations

import _csv
import codecs
import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from analysis.data.mapping import Mapping
from analysis.data.schema import IDENTIFIER_COLUMNS, MASK, TABLES
from analysis.errors import Problem

#: Delimiters recognised in a one-column header (a file saved with another separator).
OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}
#: Share of rows with the wrong number of cells above which the file, not the rows, is wrong.
BROKEN_FILE_SHARE = 0.5
#: Bytes of a CSV file read to find its header row.
HEADER_BYTES = 1 << 20
#: Arrow's CSV block size (its default); quoted line breaks may fall on any block boundary.
CSV_BLOCK_BYTES = 1 << 20


class ReadFailure(Exception):
    """A file could not be read; ``problem`` says why (file-level root cause)."""

    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


@dataclass(frozen=True)
class Part:
    """One sheet of a workbook: its rows, and whether they were read (and why not)."""

    name: str
    rows: int
    read: bool
    reason: str = "none"


@dataclass
class FileRead:
    """Cells of one file (text, or typed for Parquet) with a fresh 0..n-1 index.

    Attributes
    ----------
    frame : DataFrame
        Cells as read; text stripped, blank cells missing.
    parts : tuple of Part
        The sheets of a workbook (empty for CSV and Parquet); rows of read sheets follow each
        other in ``frame`` in this order.
    problems : list of Problem
        Row-level problems (rows with the wrong number of cells) and sheet problems.
    broken_rows : ndarray
        0-based rows of ``frame`` whose cells could not be split reliably (only their
        identifier cells, taken by position, are used; everything else is missing).
    lines : ndarray or None
        Physical line of each row in a text file when it was located (Python fallback).
    incomplete : Problem or None
        A problem meaning some rows of the file were not read (a rejected sheet): references
        to this table that are not found are counted as its knock-on problems.
    """

    frame: pd.DataFrame
    parts: tuple[Part, ...] = ()
    problems: list[Problem] = field(default_factory=list)
    broken_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    lines: np.ndarray | None = None
    incomplete: Problem | None = None


def read_file(path: Path, table: str, mapping: Mapping) -> FileRead:
    """Read one export file by its extension.

    Raises
    ------
    ReadFailure
        The file cannot be read as a whole (the problem says why).
    """
    if path.stat().st_size == 0:
        raise ReadFailure(
            Problem(
                path.name,
                None,
                None,
                None,
                "the file is empty (0 bytes): export the table again, with its header row",
            )
        )
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return read_csv(path, table, mapping)
        if suffix == ".xlsx":
            return read_workbook(path, table, mapping)
        if suffix == ".parquet":
            return FileRead(_clean_arrow(pq.read_table(path)))
    except ReadFailure:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is a problem with the file
        kind = {".csv": "CSV", ".xlsx": "Excel workbook", ".parquet": "Parquet"}[suffix]
        raise ReadFailure(
            Problem(
                path.name,
                None,
                None,
                None,
                f"cannot read the file as {kind} ({type(exc).__name__}); save it again "
                f"as {kind} (.{suffix.lstrip('.')})",
            )
        ) from None
    raise ReadFailure(Problem(path.name, None, None, None, f"unsupported file type {suffix}"))


# ----------------------------------------------------------------------------------------------
# Cells


def _clean_arrow(table: pa.Table) -> pd.DataFrame:
    """Arrow table -> DataFrame; text cells stripped, blank text cells missing (done in Arrow)."""
    columns = []
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = pc.utf8_trim_whitespace(col)
            col = pc.if_else(pc.equal(col, ""), pa.scalar(None, col.type), col)
        columns.append(col)
    df = pa.table(columns, names=table.column_names).to_pandas()
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    return df


def _clean_objects(df: pd.DataFrame) -> pd.DataFrame:
    """Object cells (Excel) -> stripped text or missing; date cells -> ``YYYY-MM-DD`` text."""

    def text(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        if hasattr(v, "strftime"):
            return v.strftime("%Y-%m-%d")
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        v = str(v).strip()
        return v or None

    out = df.map(text)
    out.columns = [str(c).strip() for c in df.columns]
    return out.reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# CSV


def _codec(mapping: Mapping) -> str:
    """Python codec of the declared encoding (default UTF-8, a byte-order mark allowed)."""
    name = codecs.lookup(mapping.encoding or "utf-8").name
    return "utf-8-sig" if name == "utf-8" else name


def _canonical(header: str, table: str, mapping: Mapping) -> str:
    return mapping.columns.get(table, {}).get(header, header)


def _contract_columns(table: str) -> set[str]:
    return {c.name for c in TABLES[table]}


def _cell_shown(value: str, column: str, table: str) -> str | None:
    """A raw cell as it may be shown: identifiers masked, columns outside the contract hidden."""
    if column in IDENTIFIER_COLUMNS:
        return MASK
    if column not in _contract_columns(table):
        return None
    return value


def _csv_reader(lines: Iterable[str], delimiter: str) -> _csv.Reader:
    """Python's csv reader without its 128 kB cell limit (a long free-text note is a cell).

    The limit is process-wide state; it is raised here, before every use, so that no reader
    depends on another having run first.
    """
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    return csv.reader(lines, delimiter=delimiter)


def _read_header(path: Path, codec: str, delimiter: str, table: str, mapping: Mapping) -> list:
    with path.open("rb") as fh:
        head = fh.read(HEADER_BYTES)
    try:
        text = head.decode(codec)
    except UnicodeDecodeError as exc:
        first_newline = head.find(b"\n")
        if first_newline < 0 or exc.start < first_newline:
            raise ReadFailure(_encoding_problem(path, codec, delimiter, table, mapping)) from None
        text = head[: exc.start].decode(codec)
    return next(_csv_reader(io.StringIO(text), delimiter), [])


def _check_header(header: list[str], path: Path, mapping: Mapping) -> None:
    name = path.name
    if not header or all(not h.strip() for h in header):
        raise ReadFailure(
            Problem(name, None, None, None, "the first line is empty: it must be the header row")
        )
    if len(header) == 1 and mapping.delimiter is None:
        for sep, words in OTHER_DELIMITERS.items():
            if sep in header[0]:
                raise ReadFailure(
                    Problem(
                        name,
                        None,
                        None,
                        None,
                        f"the header is one column that contains {words}: the file is separated "
                        f"by {words}, not commas; save it as CSV (comma-separated) or declare "
                        f"delimiter: {sep!r} in mapping.yaml",
                    )
                )


def read_csv(path: Path, table: str, mapping: Mapping) -> FileRead:
    """Every CSV cell as text (identifiers keep leading zeros); empty cells become missing.

    Arrow parses the file; if it cannot (a row with more or fewer cells than the header, text
    that is not in the declared encoding, a cell larger than Arrow's block), Python's csv
    module reads it again and locates each problem.
    """
    codec = _codec(mapping)
    delimiter = mapping.delimiter or ","
    header = _read_header(path, codec, delimiter, table, mapping)
    _check_header(header, path, mapping)
    invalid = 0

    def count_invalid(_row) -> str:
        nonlocal invalid
        invalid += 1
        return "skip"

    try:
        arrow = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                encoding="utf8" if codec == "utf-8-sig" else codec, block_size=CSV_BLOCK_BYTES
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=True,
                invalid_row_handler=count_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return _read_csv_python(path, codec, delimiter, table, mapping)
    if invalid:
        return _read_csv_python(path, codec, delimiter, table, mapping)
    return FileRead(_clean_arrow(arrow))


def _read_csv_python(
    path: Path, codec: str, delimiter: str, table: str, mapping: Mapping
) -> FileRead:
    """The slow, exact reader: every row kept in place; rows of the wrong width reported."""
    try:
        text = path.read_bytes().decode(codec)
    except UnicodeDecodeError:
        raise ReadFailure(_encoding_problem(path, codec, delimiter, table, mapping)) from None
    reader = _csv_reader(io.StringIO(text, newline=""), delimiter)
    header = next(reader)
    width = len(header)
    rows: list[list[str]] = []
    lines: list[int] = []
    broken: list[tuple[int, int, int]] = []  # (row index, line, cells)
    start_line = reader.line_num + 1
    for record in reader:
        if not record:  # a blank line: skipped, as Arrow does
            start_line = reader.line_num + 1
            continue
        if len(record) != width:
            broken.append((len(rows), start_line, len(record)))
            record = (record + [""] * width)[:width]
        rows.append(record)
        lines.append(start_line)
        start_line = reader.line_num + 1
    del text
    frame = (
        pd.DataFrame(rows, columns=header, dtype=object)
        if rows
        else pd.DataFrame({h: pd.Series([], dtype=object) for h in header})
    )
    frame = frame.apply(lambda s: s.str.strip()).replace("", None)
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    problems = _broken_row_problems(path.name, broken, width, len(rows))
    return FileRead(
        frame.reset_index(drop=True),
        problems=problems,
        broken_rows=np.array([b[0] for b in broken], dtype=np.int64),
        lines=np.array(lines, dtype=np.int64),
    )


def _broken_row_problems(
    name: str, broken: list[tuple[int, int, int]], width: int, n_rows: int
) -> list[Problem]:
    """One problem per row of the wrong width; one for the file when most rows are."""
    if not broken:
        return []
    if len(broken) > BROKEN_FILE_SHARE * n_rows:
        cells = pd.Series([b[2] for b in broken]).mode().iloc[0]
        raise ReadFailure(
            Problem(
                name,
                None,
                None,
                None,
                f"{len(broken):,} of {n_rows:,} rows have a different number of cells from the "
                f"header ({width} columns; most of these rows have {cells}): check the "
                "delimiter, the header row and the quoting",
                knock_on=len(broken) - 1,
            )
        )
    out = []
    for row, line, cells in broken:
        more = cells > width
        why = (
            "a delimiter inside an unquoted value (a decimal comma such as 12,5?): quote the "
            "value or use '.' as the decimal separator"
            if more
            else "a missing cell or an unclosed quote"
        )
        out.append(
            Problem(
                name,
                row + 1,
                None,
                None,
                f"the row has {cells} cells but the header has {width}: {why}",
                line=line,
            )
        )
    return out


def _encoding_problem(
    path: Path, codec: str, delimiter: str, table: str, mapping: Mapping
) -> Problem:
    """Where the first byte that is not text in ``codec`` is: row, line, column and value."""
    data = path.read_bytes()
    try:
        data.decode(codec)
    except UnicodeDecodeError as exc:
        start, byte = exc.start, data[exc.start]
    else:  # pragma: no cover - only called after a decoding failure
        return Problem(path.name, None, None, None, f"not valid {codec} text")
    prefix = data[:start].decode(codec)
    line = prefix.count("\n") + 1
    line_start = data.rfind(b"\n", 0, start) + 1
    line_end = data.find(b"\n", start)
    bad_lines = sum(1 for chunk in data[line_start:].split(b"\n") if not _decodes(chunk, codec))
    declared = mapping.encoding is not None
    advice = (
        f"not valid {mapping.encoding} text (the encoding declared in mapping.yaml): check it"
        if declared
        else "not UTF-8 text: save the file as 'CSV UTF-8' or declare its encoding in "
        "mapping.yaml (e.g. encoding: cp1252 for Windows Western European, latin-1)"
    )
    rule = f"{advice} [byte 0x{byte:02x}; {bad_lines:,} line(s) in all]"
    records = [r for r in _csv_reader(io.StringIO(prefix, newline=""), delimiter) if r]
    at_line_start = prefix == "" or prefix.endswith(("\n", "\r"))
    if not records or (len(records) == 1 and not at_line_start):
        return Problem(path.name, None, None, None, f"{rule} (in the header row)", line=1)
    header = records[0]
    row = len(records) if at_line_start else len(records) - 1
    position = 0 if at_line_start else len(records[-1]) - 1
    column = header[position] if position < len(header) else None
    canonical = _canonical(column, table, mapping) if column is not None else None
    value = None
    if canonical is not None:
        text = data[line_start : line_end if line_end >= 0 else len(data)].decode(
            codec, errors="backslashreplace"
        )
        cells = next(_csv_reader([text], delimiter), [])
        cell = cells[position] if position < len(cells) else ""
        value = _cell_shown(cell.strip(), canonical, table)
    return Problem(path.name, row, canonical, value, rule, line=line)


def _decodes(chunk: bytes, codec: str) -> bool:
    try:
        chunk.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


# ----------------------------------------------------------------------------------------------
# Excel


def read_workbook(path: Path, table: str, mapping: Mapping) -> FileRead:
    """Every sheet of a workbook: read (same header: the table split over sheets) or rejected.

    With ``sheets.<table>`` in mapping.yaml only the listed sheets are read; the others are
    counted as not read (data quality). A sheet whose header differs from the first sheet's is
    a problem naming it; its rows are not read.
    """
    sheets = pd.read_excel(path, sheet_name=None, dtype=object, engine="openpyxl")
    wanted = mapping.sheets.get(table)
    name = path.name
    problems: list[Problem] = []
    if wanted is not None:
        for missing in sorted(set(wanted) - set(sheets)):
            problems.append(
                Problem(
                    name,
                    None,
                    None,
                    missing,
                    f"sheet listed under sheets.{table} in mapping.yaml not found in the "
                    f"workbook (sheets: {', '.join(map(repr, sheets))})",
                )
            )
    parts: list[Part] = []
    frames: list[pd.DataFrame] = []
    header: list[str] | None = None
    first = ""
    incomplete = None
    for sheet, df in sheets.items():
        if wanted is not None and sheet not in wanted:
            parts.append(Part(sheet, len(df), False, f"not listed under sheets.{table}"))
            continue
        cols = [str(c).strip() for c in df.columns]
        if not cols and df.empty:
            parts.append(Part(sheet, 0, True, "empty sheet"))
            continue
        if header is None:
            header, first = cols, sheet
        if cols != header:
            differ = sum(a != b for a, b in zip(cols, header, strict=False)) + abs(
                len(cols) - len(header)
            )
            problem = Problem(
                name,
                None,
                None,
                None,
                f"sheet '{sheet}' ({len(df):,} rows) has another header than sheet '{first}' "
                f"({differ} of {max(len(cols), len(header))} column names differ), so its rows "
                "were not read: a table split over sheets must repeat the same header in each "
                f"sheet; or list the sheets to read under sheets.{table} in mapping.yaml",
            )
            problems.append(problem)
            incomplete = incomplete or problem
            parts.append(Part(sheet, len(df), False, "another header"))
            continue
        frames.append(_clean_objects(df))
        parts.append(Part(sheet, len(df), True))
    if not frames:
        frame = pd.DataFrame({h: pd.Series([], dtype=object) for h in header or []})
    else:
        frame = pd.concat(frames, ignore_index=True)
    return FileRead(frame, parts=tuple(parts), problems=problems, incomplete=incomplete)


def sheet_of_rows(parts: tuple[Part, ...]) -> list[tuple[str, int, int]]:
    """``(sheet, first row, rows)`` of each read sheet in the order its rows were stacked."""
    out, start = [], 0
    for part in parts:
        if part.read:
            out.append((part.name, start, part.rows))
            start += part.rows
    return out


_ID_SHAPE = re.compile(r"[A-Za-z]{0,6}[-_#/. ]?\d{5,}")


def looks_like_identifier(value: str) -> bool:
    """True for values shaped like record numbers (``PAT-100001``, ``P000001``, ``1234567``)."""
    return bool(_ID_SHAPE.fullmatch(value.strip()))


__all__ = [
    "FileRead",
    "Part",
    "ReadFailure",
    "looks_like_identifier",
    "read_file",
    "sheet_of_rows",
]
