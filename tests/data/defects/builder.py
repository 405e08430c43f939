"""Write a clean export and apply one defect to it (see ``cases.py``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import handmade
import pandas as pd
import yaml

Tables = dict[str, pd.DataFrame]

#: The identifiers and staff labels of the clean export: never in a message or problem list.
SECRETS = (
    "PAT-",
    "EPI-",
    "Clinic Nord",
    "Clinic Sued",
    "Dr. Alpha",
    "Dr. Beta",
    "Dr. Gamma",
    "M\\xfcller",
    "Müller",
)


@dataclass(frozen=True)
class Case:
    """One defect and the exact problems it must give.

    ``expected`` rows are ``(file, row, column, value, rule)`` or, for a root cause with
    knock-on problems, ``(file, row, column, value, rule, knock_on)``. ``cutoff`` is
    ``data.cutoff_date`` (``None``: not set); ``mapping`` is written as ``mapping.yaml``.
    """

    expected: tuple[tuple, ...]
    tables: Callable[[Tables], None] | None = None
    files: Callable[[Path], None] | None = None
    mapping: dict | None = None
    cutoff: str | None = handmade.CUTOFF
    ext: str = ".csv"
    params: dict = field(default_factory=dict)


def build(case: Case, directory: Path) -> Path:
    """Write the clean export with ``case``'s defect into ``directory``."""
    tables = handmade.tables()
    if case.tables is not None:
        case.tables(tables)
    handmade.write(tables, directory, case.ext)
    if case.mapping is not None:
        (directory / "mapping.yaml").write_text(yaml.safe_dump(case.mapping, allow_unicode=True))
    if case.files is not None:
        case.files(directory)
    return directory


def fingerprint(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under ``directory`` (to show that the input was not modified)."""
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# ----------------------------------------------------------------------------------------------
# Defects on the tables (before writing)


def set_cell(table: str, row: int | slice, column: str, value) -> Callable[[Tables], None]:
    """Cell ``row`` (1-based data row; a slice of them) of ``table.column`` set to ``value``."""

    def mutate(t: Tables) -> None:
        t[table][column] = t[table][column].astype(object)
        rows = slice(row.start - 1, row.stop - 2) if isinstance(row, slice) else row - 1
        t[table].loc[rows, column] = value

    return mutate


def drop_column(table: str, column: str) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        t[table] = t[table].drop(columns=[column])

    return mutate


def drop_table(table: str) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        del t[table]

    return mutate


def rename_columns(table: str, names: dict[str, str]) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        t[table] = t[table].rename(columns=names)

    return mutate


def reformat_dates(table: str, column: str, fmt: str) -> Callable[[Tables], None]:
    """Every date of ``table.column`` written with ``fmt`` (missing ones stay empty)."""

    def mutate(t: Tables) -> None:
        t[table][column] = pd.to_datetime(t[table][column]).dt.strftime(fmt)

    return mutate


def add_notes(table: str, text: Callable[[int], str]) -> Callable[[Tables], None]:
    """A free-text ``notes`` column (outside the contract) with ``text(row)`` in each row."""

    def mutate(t: Tables) -> None:
        t[table]["notes"] = [text(i + 1) for i in range(len(t[table]))]

    return mutate


def both(*mutations: Callable) -> Callable:
    def mutate(x) -> None:
        for m in mutations:
            m(x)

    return mutate


# ----------------------------------------------------------------------------------------------
# Defects on the bytes (after writing)


def replace_bytes(file: str, old: bytes, new: bytes, count: int = -1) -> Callable[[Path], None]:
    def mutate(directory: Path) -> None:
        path = directory / file
        data = path.read_bytes()
        assert old in data, (file, old)
        path.write_bytes(data.replace(old, new, count))

    return mutate


def write_bytes(file: str, data: bytes) -> Callable[[Path], None]:
    def mutate(directory: Path) -> None:
        (directory / file).write_bytes(data)

    return mutate


def remove(file: str) -> Callable[[Path], None]:
    def mutate(directory: Path) -> None:
        (directory / file).unlink()

    return mutate


def workbook(table: str, sheets: dict[str, tuple[int, int, bool]]) -> Callable[[Path], None]:
    """``table`` as a workbook (instead of CSV): sheet -> (first row, end row, with header)."""

    def mutate(directory: Path) -> None:
        df = handmade.tables()[table]
        with pd.ExcelWriter(directory / f"{table}.xlsx") as writer:
            for name, (start, end, header) in sheets.items():
                df.iloc[start:end].to_excel(writer, sheet_name=name, index=False, header=header)
        (directory / f"{table}.csv").unlink()

    return mutate


def lines_of(file: str, edit: Callable[[list[bytes]], None]) -> Callable[[Path], None]:
    """Edit the file's lines (``lines[0]`` is the header; line endings kept)."""

    def mutate(directory: Path) -> None:
        path = directory / file
        lines = path.read_bytes().splitlines(keepends=True)
        edit(lines)
        path.write_bytes(b"".join(lines))

    return mutate
