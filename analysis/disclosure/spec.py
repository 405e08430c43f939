"""What a stage declares about the counts it writes, so that the disclosure layer can protect them.

A released count is a sum of unknown *fine* counts that an attacker would like to learn. A stage
describes those fine counts once per measure as a **cube** (:class:`CubeRef`: one row per fine
cell, identified by ``dims``, with its true ``value``; extra *attribute* columns such as a
clinic or the complication types whose regions include the cell let a published row select
cells), and says for every count column of a table which cube cells a row adds up
(:class:`Count`). Counts that are not sums of a cube (distinct patients, a subsample size) are
*own* counts: one unknown each, identified by ``family`` and key, so that the same number in two
tables is one cell. :class:`TableSum` states an identity between columns of one table
(rows in = kept + excluded).

Everything here is plain data that round-trips through the analyst manifest
(``data/results/<stage>/manifest.json``); :mod:`analysis.disclosure.model` turns it into the
attacker's linear program.

Example
-------
>>> Count("n_events", cube="complication_events",
...       by=(("complication", "complication"), ("clinic", "clinic")))
Count(column='n_events', cube='complication_events', ...)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

RELATIONS = ("eq", "ge")
#: ``{"table column": "cube column"}`` or the same as pairs
PairsLike = Mapping[str, str] | Sequence[Sequence[str]]


def norm(value: Any) -> str:
    """A cell or key value as comparable text (``1``, ``1.0`` and ``"1"`` are the same)."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        return str(int(v)) if math.isfinite(v) and v.is_integer() else repr(v)
    return str(value)


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    """``{"a": "b"}``, ``[["a", "b"]]`` or ``(("a", "b"),)`` as a tuple of string pairs."""
    if not value:
        return ()
    items = value.items() if isinstance(value, dict) else value
    return tuple((str(k), str(v)) for k, v in items)


@dataclass(frozen=True, init=False)
class Count:
    """How the cells of one count column map onto unknown fine counts.

    Attributes
    ----------
    column : the count column of the table.
    cube : the cube whose cells a row adds up; ``None`` for an own count.
    by : (table column, cube column or key name) pairs: the row's value in the table column
        selects the cube cells with that value (own counts: forms the key).
    fixed : (cube column or key name, value) pairs selecting cells regardless of the row.
    where : (table column, value) pairs: the rows this declaration covers (all if empty); the
        first declaration of a column whose ``where`` matches a row applies to it.
    relation : ``"eq"`` (the count is the sum) or ``"ge"`` (at least the sum, e.g. input rows
        against events derived from them; the audit treats it as ``eq`` when equal).
    family : own counts: cells with the same family and key are the same number wherever
        they appear (default: one cell per row of this table).
    at_most : own counts: the count of this other column of the same row bounds it.
    text : the cell is text ``"n"`` or ``"n (p%)"`` (Table 1); the count is its first number.
    exempt : the rows this declaration covers hold no count of people in this column (a
        number of clinics, a median in Table 1).
    complete : the table has a row for every value of the ``by`` cube columns that has any
        count (a provider without treatments of a type is left out): a missing combination
        tells the reader its count is zero.
    """

    column: str
    cube: str | None = None
    by: tuple[tuple[str, str], ...] = ()
    fixed: tuple[tuple[str, str], ...] = ()
    where: tuple[tuple[str, str], ...] = ()
    relation: str = "eq"
    family: str | None = None
    at_most: str | None = None
    text: bool = False
    exempt: bool = False
    complete: bool = False

    def __init__(
        self,
        column: str,
        cube: str | None = None,
        by: PairsLike = (),
        fixed: PairsLike = (),
        where: PairsLike = (),
        relation: str = "eq",
        family: str | None = None,
        at_most: str | None = None,
        text: bool = False,
        exempt: bool = False,
        complete: bool = False,
    ) -> None:
        values = {
            "column": column,
            "cube": cube,
            "by": _pairs(by),
            "fixed": _pairs(fixed),
            "where": _pairs(where),
            "relation": relation,
            "family": family,
            "at_most": at_most,
            "text": text,
            "exempt": exempt,
            "complete": complete,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        if relation not in RELATIONS:
            raise ValueError(f"Count {column!r}: relation must be one of {RELATIONS}")
        if cube is None and relation != "eq":
            raise ValueError(f"Count {column!r}: an own count has no relation to a cube")

    def covers(self, row: dict[str, Any]) -> bool:
        """True if this declaration applies to ``row`` (a mapping column -> value)."""
        return all(norm(row.get(col)) == val for col, val in self.where)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"column": self.column}
        for name in ("cube", "family", "at_most"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        for name in ("by", "fixed", "where"):
            if getattr(self, name):
                out[name] = [list(p) for p in getattr(self, name)]
        if self.relation != "eq":
            out["relation"] = self.relation
        for name in ("text", "exempt", "complete"):
            if getattr(self, name):
                out[name] = True
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Count:
        return cls(**data)


@dataclass(frozen=True)
class TableSum:
    """``total = sum(parts)`` over the rows of each ``group`` of one table.

    ``rows_in = rows_kept + sum(rows_excluded)`` per input table of the data-quality table:
    ``TableSum("rows_in", ("rows_kept", "rows_excluded"), ("table",))``. A column repeated on
    every row of the group (rows_in) is one cell; each row's cell of a part column is added.
    """

    total: str
    parts: tuple[str, ...]
    group: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))
        object.__setattr__(self, "group", tuple(self.group))

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "parts": list(self.parts), "group": list(self.group)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableSum:
        return cls(data["total"], tuple(data["parts"]), tuple(data.get("group", ())))


@dataclass(frozen=True)
class Below:
    """A shown column says whether a count of the same row is below ``threshold``
    (``too_few_to_judge = n_treatments < 50``): the audit adds ``count <= threshold - 1`` or
    ``count >= threshold`` for the row, so a released indicator narrows nothing unseen."""

    column: str
    count: str
    threshold: float

    def to_json(self) -> dict[str, Any]:
        return {"column": self.column, "count": self.count, "threshold": self.threshold}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Below:
        return cls(**data)


@dataclass(frozen=True, init=False)
class Mix:
    """A shown column that is a count-weighted average over the cube cells a row selects:
    ``column = sum(x * w) / sum(x)`` with ``w`` the cube column ``weight`` (a provider's
    benchmark standardised to its region mix). The audit adds ``sum(x * (w - column)) = 0``
    for every row that shows it: a reader can solve for the mix as well as for a margin.
    """

    column: str
    cube: str
    by: tuple[tuple[str, str], ...]
    weight: str

    def __init__(self, column: str, cube: str, by: PairsLike, weight: str) -> None:
        object.__setattr__(self, "column", column)
        object.__setattr__(self, "cube", cube)
        object.__setattr__(self, "by", _pairs(by))
        object.__setattr__(self, "weight", weight)

    def to_json(self) -> dict[str, Any]:
        by = [list(p) for p in self.by]
        return {"column": self.column, "cube": self.cube, "by": by, "weight": self.weight}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Mix:
        return cls(data["column"], data["cube"], data["by"], data["weight"])


@dataclass(frozen=True)
class CubeRef:
    """A cube of fine counts written by a stage (analyst-only: never released).

    Attributes
    ----------
    name : unique across the stages of a study; two stages may write the same cube only with
        identical cells.
    measure : what is counted (``episodes``, ``complication_events``, ...). Cubes of the same
        measure are the same people counted by different dimensions: their margins over their
        shared dims are equal. :data:`analysis.disclosure.model.MEASURE_BOUNDS` relates
        different measures (events of one type never exceed the episodes).
    dims : the columns that identify one fine cell (one unknown of the attacker).
    path : Parquet file relative to the stage directory: ``dims``, attribute columns and
        ``value``; an attribute with several values (the complication types whose regions
        include a region) repeats the cell on several rows.
    ordered_by : a dim along which the counts never increase (numbers still effective by day).
    """

    name: str
    measure: str
    dims: tuple[str, ...]
    path: str
    ordered_by: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dims", tuple(self.dims))

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "measure": self.measure, "dims": list(self.dims)}
        out["path"] = self.path
        if self.ordered_by is not None:
            out["ordered_by"] = self.ordered_by
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CubeRef:
        return cls(**data)


@dataclass(frozen=True)
class FigureDraw:
    """A figure drawn by the disclosure layer from released tables (so it cannot show a
    suppressed value): ``function`` is ``"module:name"``, called with the released tables as
    keyword arguments (``tables``: argument -> table stem of the same stage, suppressed cells
    as NaN) and ``kwargs``, inside :func:`analysis.figures.theme.theme`.
    """

    function: str
    tables: tuple[tuple[str, str], ...]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", _pairs(self.tables))

    def to_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "tables": [list(p) for p in self.tables],
            "kwargs": dict(self.kwargs),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FigureDraw:
        return cls(data["function"], data["tables"], dict(data.get("kwargs") or {}))
