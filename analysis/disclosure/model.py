"""The attacker's linear program over every count a study releases.

Unknowns: the fine cells of every cube (``x >= 0``) and one value per released count cell
(``y``). What the attacker knows, as linear constraints:

- each count cell is the sum of the cube cells its row selects (``y = sum x``; ``y >= sum x``
  for a declared ``"ge"`` count that is not tight; a tight one is treated as ``=``, the
  attacker's best guess);
- identities inside a table (:class:`~analysis.disclosure.spec.TableSum`) and row-wise bounds
  between own counts (``at_most``: distinct patients never exceed episodes);
- cubes of the same measure have equal margins over the dims they share (episodes by region
  from the cohort description and from the complication tables are the same people);
- :data:`MEASURE_BOUNDS` between measures on their shared dims (events of one type never
  exceed the episodes; episodes with any complication are at least the events of each type
  and at most their sum), and counts never increase along a cube's ``ordered_by`` dim;
- a released count is its value; a suppressed one is only known to be ``>= 1`` (zero is always
  shown, and primary and secondary suppressions look the same).

Membership of injectors in clinics and of regions in complication types is an attribute of the
cube cells: the attacker is assumed to know it (the issue's attack worked it out exactly from
the ``n_treatments`` columns). The feasible interval of a cell is ``[min y, max y]`` over this
polyhedron (HiGHS through :func:`scipy.optimize.linprog`). Margins are linked pairwise, which is
exact when the cubes of a measure form a tree of shared dims (they do here); an attacker with the
full cross-classification could do no better on such a tree.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog

from analysis.disclosure.lp import OPTIMAL, UNBOUNDED, AuditLP
from analysis.disclosure.spec import Below, Count, CubeRef, Mix, TableSum, norm
from analysis.errors import BontaError

#: (lower measure, upper measure, dims of the lower cube kept apart): on the dims the two cubes
#: share, the lower count never exceeds the upper one.
MEASURE_BOUNDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("complication_events", "episodes", ("complication",)),
    ("complicated_episodes", "episodes", ()),
    ("complication_events", "complicated_episodes", ("complication",)),
    ("complicated_episodes", "complication_events", ()),
    ("retreated_episodes", "episodes", ()),
    ("duration_episodes", "episodes", ()),
    ("known_effective", "duration_episodes", ("day",)),
    ("patients", "episodes", ()),
    ("touchup_episodes", "episodes", ()),
    ("touchup_events", "touchup_episodes", ()),
    ("resolved_records", "complication_records", ()),
)

SHOWN, PRIMARY, SECONDARY = 0, 1, 2
_TOL = 1e-6


class DisclosureError(BontaError):
    """A declaration does not match its table, or a count cannot be protected."""


def count_value(value: Any, text: bool) -> float | None:
    """The count a cell holds (``None`` if empty); ``text`` cells are ``"n"`` or ``"n (p%)"``."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if text or isinstance(value, str):
        head = str(value).strip().split(" ")[0].replace(",", "")
        try:
            return float(head)
        except ValueError:
            return None
    return float(value)


@dataclass
class Cube:
    """A cube's cells: ``ids[k]`` is the unknown of row ``k`` of ``frame`` (0-based, local)."""

    ref: CubeRef
    frame: pd.DataFrame
    ids: np.ndarray
    values: np.ndarray
    offset: int = 0
    _index: dict[tuple[str, ...], dict[tuple[str, ...], np.ndarray]] = field(default_factory=dict)

    @classmethod
    def build(cls, ref: CubeRef, frame: pd.DataFrame) -> Cube:
        missing = [c for c in (*ref.dims, "value") if c not in frame.columns]
        if missing:
            raise DisclosureError(f"cube {ref.name!r}: columns {missing} are missing")
        text = frame.drop(columns="value").map(norm)
        ids = text.groupby(list(ref.dims), sort=True).ngroup().to_numpy()
        values = np.zeros(ids.max() + 1 if len(ids) else 0)
        values[ids] = frame["value"].to_numpy(float)
        check = np.zeros_like(values)
        np.add.at(check, ids, 1.0)
        again = np.zeros_like(values)
        np.add.at(again, ids, frame["value"].to_numpy(float))
        if not np.allclose(again, values * check):
            raise DisclosureError(f"cube {ref.name!r}: a repeated cell has different values")
        text["value"] = frame["value"].to_numpy(float)
        return cls(ref, text, ids, values)

    @property
    def size(self) -> int:
        return len(self.values)

    def select(self, constraints: Mapping[str, str]) -> np.ndarray:
        """Global indices of the unknowns whose rows match ``constraints`` (column -> value)."""
        cols = tuple(sorted(constraints))
        unknown = [c for c in cols if c not in self.frame.columns]
        if unknown:
            raise DisclosureError(
                f"cube {self.ref.name!r} has no column(s) {unknown} "
                f"(columns: {list(self.frame.columns)})"
            )
        if cols not in self._index:
            groups: dict[tuple[str, ...], np.ndarray] = {}
            if cols:
                for key, rows in self.frame.groupby(list(cols), sort=False).indices.items():
                    key = key if isinstance(key, tuple) else (key,)
                    groups[tuple(key)] = np.unique(self.ids[rows])
            else:
                groups[()] = np.unique(self.ids)
            self._index[cols] = groups
        found = self._index[cols].get(tuple(constraints[c] for c in cols))
        if found is None:
            return np.zeros(0, dtype=int)
        return found + self.offset

    def select_rows(self, constraints: Mapping[str, str]) -> np.ndarray:
        """Positions of the frame rows matching ``constraints`` (column -> value)."""
        mask = np.ones(len(self.frame), dtype=bool)
        for col, val in constraints.items():
            if col not in self.frame.columns:
                raise DisclosureError(f"cube {self.ref.name!r} has no column {col!r}")
            mask &= (self.frame[col] == val).to_numpy()
        return np.flatnonzero(mask)

    def margins(self, dims: Sequence[str]) -> dict[tuple[str, ...], np.ndarray]:
        """Global unknown indices by value of ``dims`` (each unknown counted once)."""
        first = self.frame.groupby(self.ids, sort=True).head(1)
        first_ids = self.ids[first.index.to_numpy()]
        if not dims:
            return {(): np.unique(first_ids) + self.offset}
        out = {}
        for key, rows in first.groupby(list(dims), sort=True).indices.items():
            key = key if isinstance(key, tuple) else (key,)
            out[tuple(key)] = np.unique(first_ids[rows]) + self.offset
        return out


@dataclass
class Cell:
    """One released count: a number that may appear in several tables."""

    index: int
    value: float
    relation: str
    unknowns: np.ndarray | None
    cube: str | None
    is_total: bool
    locations: list[tuple[str, int, str]] = field(default_factory=list)

    def where(self) -> str:
        """The first place the cell appears, as ``table, row n, column 'c'`` (1-based row)."""
        table, row, column = self.locations[0]
        if row < 0:
            return f"{table}, no row for {column} (a zero)"
        return f"{table}, row {row + 1}, column '{column}'"


@dataclass
class TableDecl:
    """A released table with its count declarations (``frame`` is the analyst copy)."""

    name: str
    frame: pd.DataFrame
    counts: tuple[Count, ...]
    sums: tuple[TableSum, ...] = ()
    below: tuple[Below, ...] = ()
    mixes: tuple[Mix, ...] = ()


class LinkedTables:
    """Every released count of a study, the cubes they add up, and the attacker's LP.

    Parameters
    ----------
    cubes
        ``(CubeRef, frame)`` of every cube declared by any stage.
    tables
        Every released table with count columns.
    """

    #: "highs": every audit LP on one warm-started HiGHS model (:mod:`analysis.disclosure.lp`);
    #: "linprog": each from scratch, the previous method (benchmarks/bench_disclose.py).
    solver: str = "highs"
    #: Certify a suppressed cell's interval as wide enough from the feasible points already
    #: found (:meth:`seen_width`) instead of solving its two LPs; False: every check solves
    #: them, the previous method (benchmarks/bench_disclosure.py).
    certify: bool = True

    def __init__(self, cubes: Iterable[tuple[CubeRef, pd.DataFrame]], tables: Iterable[TableDecl]):
        self.cubes: dict[str, Cube] = {}
        offset = 0
        for ref, frame in cubes:
            if ref.name in self.cubes:
                raise DisclosureError(f"cube {ref.name!r} is declared twice")
            cube = Cube.build(ref, frame)
            cube.offset = offset
            offset += cube.size
            self.cubes[ref.name] = cube
        self.n_x = offset
        self.cells: list[Cell] = []
        self._keys: dict[tuple, int] = {}
        self.tables = list(tables)
        self.cell_of: dict[tuple[str, int, str], int] = {}
        #: cube unknowns that some mix row weighs (:meth:`touches_mix`)
        self.mixed = np.zeros(offset, dtype=bool)
        rows_ub: list[dict] = []
        rows_eq: list[dict] = []
        for table in self.tables:
            self._add_table(table, rows_ub, rows_eq)
        self._relations(rows_ub, rows_eq)
        n = self.n_x + len(self.cells)
        self.n = n
        self.a_ub, self.b_ub = _matrix(rows_ub, n)
        self.a_eq, self.b_eq = _matrix(rows_eq, n)
        self.values = np.array([c.value for c in self.cells])
        self._check_truth(rows_ub, rows_eq)
        self._lps: dict[int, AuditLP] = {}  # one warm-started model per thread slot
        # every cell's smallest and largest value over the feasible points seen so far (the
        # true counts, then every optimal audit LP's solution): see seen_width
        self._seen_low = self.values.astype(float).copy()
        self._seen_high = self.values.astype(float).copy()
        self._seen_lock = threading.Lock()

    def _check_truth(self, rows_ub: list[dict], rows_eq: list[dict]) -> None:
        """The true counts must satisfy every relation (else a declaration is wrong)."""
        truth = np.concatenate([self._x_values(np.arange(self.n_x)), self.values])
        eq = np.flatnonzero(np.abs(self.a_eq @ truth - self.b_eq) > _TOL)
        ub = np.flatnonzero(self.a_ub @ truth - self.b_ub > _TOL)
        for rows, bad in ((rows_eq, eq), (rows_ub, ub)):
            if len(bad):
                why = rows[bad[0]].get("why", "a table identity or bound")
                raise DisclosureError(
                    f"the declared counts break a relation the audit relies on: {why} "
                    f"({len(bad)} relation(s) fail): a stage declares its counts wrongly"
                )

    # -- building -------------------------------------------------------------------------
    def _cell(self, key: tuple, value: float, make: dict[str, Any], where: tuple) -> int:
        idx = self._keys.get(key)
        if idx is None:
            idx = len(self.cells)
            self._keys[key] = idx
            self.cells.append(Cell(index=idx, value=value, **make))
        elif abs(self.cells[idx].value - value) > _TOL:
            first = self.cells[idx].where()
            here = Cell(idx, value, "eq", None, None, False, [where]).where()
            raise DisclosureError(
                f"{here} is declared as the same count as {first} but the two differ"
            )
        self.cells[idx].locations.append(where)
        return idx

    def _add_table(self, table: TableDecl, rows_ub: list[dict], rows_eq: list[dict]) -> None:
        frame = table.frame.reset_index(drop=True)
        records = frame.to_dict("records")
        by_column: dict[str, list[Count]] = defaultdict(list)
        for decl in table.counts:
            if decl.column not in frame.columns:
                raise DisclosureError(
                    f"{table.name}: declared count column {decl.column!r} is not a column "
                    f"(columns: {list(frame.columns)})"
                )
            by_column[decl.column].append(decl)
        for column, decls in by_column.items():
            for pos, row in enumerate(records):
                value = count_value(row[column], any(d.text for d in decls))
                if value is None:
                    continue
                found = next((d for d in decls if d.covers(row)), None)
                if found is None:
                    raise DisclosureError(
                        f"{table.name}, row {pos + 1}, column '{column}': no count declaration "
                        "covers this row"
                    )
                if found.exempt:
                    continue
                self.cell_of[(table.name, pos, column)] = self._declared(
                    table.name, pos, row, found, value
                )
        for pos, row in enumerate(records):
            for decl in table.counts:
                if decl.at_most and not decl.exempt and decl.covers(row):
                    a = self.cell_of.get((table.name, pos, decl.column))
                    b = self.cell_of.get((table.name, pos, decl.at_most))
                    if a is not None and b is not None:
                        why = f"{table.name}, row {pos + 1}: {decl.column} <= {decl.at_most}"
                        rows_ub.append(
                            {self.n_x_of(a): 1.0, self.n_x_of(b): -1.0, -1: 0.0, "why": why}
                        )
        for total in table.sums:
            self._table_sum(table.name, frame, total, rows_eq)
        for ind in table.below:
            self._below(table.name, records, ind, rows_ub)
        for mix in table.mixes:
            self._mix(table.name, records, mix, rows_eq)
        for decl in table.counts:
            if decl.complete and decl.cube is not None:
                self._complete(table.name, records, decl)

    def _mix(self, table: str, records: list[dict], mix: Mix, rows_eq: list[dict]) -> None:
        """``sum(x * (w - shown)) = 0``, scaled to a largest coefficient of 1 (HiGHS reads a
        thin band of two inequalities as infeasible; an equality is exact enough: the shown
        value is a float, exact to ~1e-15)."""
        cube = self.cubes[mix.cube]
        if mix.weight not in cube.frame.columns:
            raise DisclosureError(f"{table}: cube {mix.cube!r} has no weight {mix.weight!r}")
        for pos, row in enumerate(records):
            shown = count_value(row.get(mix.column), False)
            if shown is None:
                continue
            constraints = {k: norm(row[c]) for c, k in mix.by}
            local = cube.select_rows(constraints)
            coef = cube.frame[mix.weight].to_numpy(float)[local] - shown
            scale = float(np.abs(coef).max()) if len(coef) else 0.0
            if scale < 1e-12:
                continue  # one weight only: says nothing about the counts
            ids = cube.ids[local] + cube.offset
            self.mixed[ids] = True
            row_eq: dict = {-1: 0.0, "why": f"{table}, row {pos + 1}: {mix.column} is a mix"}
            for j, c in zip(ids, coef / scale, strict=True):
                row_eq[int(j)] = row_eq.get(int(j), 0.0) + float(c)
            rows_eq.append(row_eq)

    def _complete(self, table: str, records: list[dict], decl: Count) -> None:
        """Every combination of values the table shows (each somewhere in its column) that
        has cells in the cube but no row of its own is a zero."""
        cube = self.cubes[str(decl.cube)]
        cols = [k for _, k in decl.by]
        covered = [r for r in records if decl.covers(r)]
        present = {tuple(norm(r[c]) for c, _ in decl.by) for r in covered}
        seen = [{norm(r[c]) for r in covered} for c, _ in decl.by]
        for key in sorted(cube.frame.groupby(cols, sort=True).groups):
            key = key if isinstance(key, tuple) else (key,)
            if tuple(key) in present or any(v not in s for v, s in zip(key, seen, strict=True)):
                continue
            constraints = dict(zip(cols, key, strict=True))
            unknowns = cube.select(constraints)
            if len(unknowns) == 0:
                continue
            where = (table, -1, f"{decl.column} {constraints}")
            make = {"relation": "eq", "unknowns": unknowns, "cube": decl.cube, "is_total": False}
            self._cell(("cube", decl.cube, "eq", tuple(unknowns.tolist())), 0.0, make, where)

    def _below(self, table: str, records: list[dict], ind: Below, rows_ub: list[dict]) -> None:
        for pos, row in enumerate(records):
            cell = self.cell_of.get((table, pos, ind.count))
            flag = row.get(ind.column)
            if cell is None or flag is None or (isinstance(flag, float) and math.isnan(flag)):
                continue
            if bool(flag) != (self.cells[cell].value < ind.threshold):
                raise DisclosureError(
                    f"{table}, row {pos + 1}: column '{ind.column}' does not say whether "
                    f"'{ind.count}' is below {ind.threshold:g}"
                )
            col = self.n_x_of(cell)
            if bool(flag):  # y <= threshold - 1
                rows_ub.append({col: 1.0, -1: math.ceil(ind.threshold) - 1.0})
            else:  # y >= threshold  <=>  -y <= -threshold
                rows_ub.append({col: -1.0, -1: -float(ind.threshold)})

    def n_x_of(self, cell: int | np.integer) -> int:
        """Column of cell ``cell``'s value in the LP (after every cube unknown)."""
        return self.n_x + int(cell)

    def _declared(self, table: str, pos: int, row: dict, decl: Count, value: float) -> int:
        where = (table, pos, decl.column)
        if decl.cube is None:
            family = decl.family or f"{table}:{decl.column}"
            key_items = [(k, norm(row[c])) for c, k in decl.by] + list(decl.fixed)
            ident: Any = tuple(sorted(key_items)) if key_items or decl.family else pos
            key: tuple = ("own", family, ident)
            make: dict[str, Any] = {"relation": "eq", "unknowns": None, "cube": None}
            make["is_total"] = False
            return self._cell(key, value, make, where)
        cube = self.cubes.get(decl.cube)
        if cube is None:
            raise DisclosureError(
                f"{table}: count {decl.column!r} names unknown cube {decl.cube!r}"
            )
        constraints = {k: norm(row[c]) for c, k in decl.by}
        constraints.update(dict(decl.fixed))
        unknowns = cube.select(constraints)
        truth = float(self._x_values(unknowns).sum())
        relation = decl.relation
        if relation == "ge" and abs(truth - value) <= _TOL:
            relation = "eq"  # tight: the attacker's natural guess is equality
        bad = abs(truth - value) > _TOL if relation == "eq" else truth > value + _TOL
        if bad:
            raise DisclosureError(
                f"{table}, row {pos + 1}, column '{decl.column}': declared as the sum of "
                f"{len(unknowns)} cells of cube {decl.cube!r} selected by {constraints}, which "
                f"add up to a different count than the table's"
            )
        key = ("cube", decl.cube, relation, tuple(unknowns.tolist()))
        make = {
            "relation": relation,
            "unknowns": unknowns,
            "cube": decl.cube,
            "is_total": len(unknowns) == cube.size and cube.size > 0,
        }
        return self._cell(key, value, make, where)

    def _x_values(self, unknowns: np.ndarray) -> np.ndarray:
        out = np.empty(len(unknowns))
        for cube in self.cubes.values():
            local = (unknowns >= cube.offset) & (unknowns < cube.offset + cube.size)
            out[local] = cube.values[unknowns[local] - cube.offset]
        return out

    def _table_sum(
        self, table: str, frame: pd.DataFrame, total: TableSum, rows_eq: list[dict]
    ) -> None:
        groups = frame.groupby(list(total.group), sort=False) if total.group else [((), frame)]
        for _, rows in groups:
            totals = {
                self.cell_of[(table, p, total.total)]
                for p in rows.index
                if (table, p, total.total) in self.cell_of
            }
            if len(totals) != 1:
                raise DisclosureError(
                    f"{table}: the rows of one group must share one '{total.total}' count"
                )
            row: dict = {
                self.n_x_of(totals.pop()): 1.0,
                -1: 0.0,
                "why": f"{table}: {total.total} = {' + '.join(total.parts)}",
            }
            for part in total.parts:
                cells = {
                    self.cell_of[(table, p, part)]
                    for p in rows.index
                    if (table, p, part) in self.cell_of
                }
                for c in cells:
                    row[self.n_x_of(c)] = row.get(self.n_x_of(c), 0.0) - 1.0
            rows_eq.append(row)

    def _relations(self, rows_ub: list[dict], rows_eq: list[dict]) -> None:
        for cell in self.cells:
            if cell.unknowns is None:
                continue
            row: dict = {self.n_x_of(cell.index): 1.0, -1: 0.0, "why": cell.where()}
            for j in cell.unknowns:
                row[int(j)] = row.get(int(j), 0.0) - 1.0
            if cell.relation == "eq":
                rows_eq.append(row)
            else:  # y >= sum x  <=>  sum x - y <= 0
                rows_ub.append(
                    {k: (-v if isinstance(k, int) and k >= 0 else v) for k, v in row.items()}
                )
        cubes = list(self.cubes.values())
        for i, a in enumerate(cubes):
            for b in cubes[i + 1 :]:
                if a.ref.measure == b.ref.measure:
                    shared = [d for d in a.ref.dims if d in b.ref.dims]
                    why = f"cubes {a.ref.name!r} and {b.ref.name!r} agree on {shared}"
                    _link(a.margins(shared), b.margins(shared), rows_eq, why)
        for lower_m, upper_m, per in MEASURE_BOUNDS:
            for low in (c for c in cubes if c.ref.measure == lower_m):
                for up in (c for c in cubes if c.ref.measure == upper_m):
                    shared = [d for d in low.ref.dims if d in up.ref.dims and d not in per]
                    keep = [d for d in per if d in low.ref.dims]
                    _bound(low, up, shared, keep, rows_ub)
        for cube in cubes:
            if cube.ref.ordered_by:
                _ordered(cube, rows_ub)

    def touches_mix(self, cell: int | np.integer) -> bool:
        """Whether a mix row weighs one of the cube unknowns that count ``cell`` adds up."""
        unknowns = self.cells[int(cell)].unknowns
        return unknowns is not None and bool(self.mixed[unknowns].any())

    # -- solving --------------------------------------------------------------------------
    def bounds(self, status: np.ndarray) -> list[tuple[float | None, float | None]]:
        """LP bounds: cube cells ``>= 0``; shown counts fixed; suppressed counts ``>= 1``."""
        out: list[tuple[float | None, float | None]] = [(0.0, None)] * self.n_x
        for cell, st in zip(self.cells, status, strict=True):
            out.append((cell.value, cell.value) if st == SHOWN else (1.0, None))
        return out

    def interval(
        self,
        cell: int | np.integer,
        status: np.ndarray,
        slot: int = 0,
        pool: ThreadPoolExecutor | None = None,
    ) -> tuple[float, float]:
        """``(min, max)`` of cell ``cell`` given what ``status`` releases (``inf`` if unbounded).

        ``slot``: which of the warm-started HiGHS models solves it (one per thread). With a
        ``pool``, the minimum is solved on model ``slot + 1`` in the pool while this thread
        solves the maximum (HiGHS releases the GIL: two LPs at once)."""
        bounds = self.bounds(status)
        if pool is None:
            return (
                self._optimise(cell, 1.0, bounds, slot),
                -self._optimise(cell, -1.0, bounds, slot),
            )
        lower = pool.submit(self._optimise, cell, 1.0, bounds, slot + 1)
        upper = -self._optimise(cell, -1.0, bounds, slot)
        return lower.result(), upper

    def seen_width(self, cells: int | np.ndarray) -> np.ndarray | float:
        """Largest minus smallest value of ``cells`` over the feasible points seen so far: a
        lower bound on the width of their feasible intervals under any later release.

        The points are the true counts and the solution of every optimal audit LP. A release
        only ever withholds more counts (a shown count fixed at its value becomes a free count
        of at least 1): every constraint of a later audit LP is one of an earlier one, so every
        point seen stays feasible, and a cell seen at two values ``w`` apart has a feasible
        interval at least ``w`` wide without solving its own LPs. (Complement LP solutions
        move released counts and are not recorded.)"""
        with self._seen_lock:
            return self._seen_high[cells] - self._seen_low[cells]

    def reset_seen(self) -> None:
        """Forget every point seen but the true counts (before a new sequence of releases that
        only withhold more: :func:`~analysis.disclosure.protect.protect`)."""
        with self._seen_lock:
            self._seen_low[:] = self.values
            self._seen_high[:] = self.values

    def _see(self, x: np.ndarray) -> None:
        y = x[self.n_x : self.n]
        with self._seen_lock:  # two threads solve at once; min and max do not depend on order
            np.minimum(self._seen_low, y, out=self._seen_low)
            np.maximum(self._seen_high, y, out=self._seen_high)

    def upper(self, cell: int | np.integer, status: np.ndarray) -> float:
        """The largest value cell ``cell`` can take given what ``status`` releases."""
        return -self._optimise(cell, -1.0, self.bounds(status))

    def lower(self, cell: int | np.integer, status: np.ndarray) -> float:
        """The smallest value cell ``cell`` can take given what ``status`` releases."""
        return self._optimise(cell, 1.0, self.bounds(status))

    def _optimise(self, cell: int | np.integer, sign: float, bounds: list, slot: int = 0) -> float:
        col = self.n_x_of(cell)
        if self.solver == "linprog":  # the previous method, each LP from scratch (benchmark)
            c = np.zeros(self.n)
            c[col] = sign
            res = _linprog(c, self.a_ub, self.b_ub, self.a_eq, self.b_eq, bounds)
            status, value, message = res.status, res.fun, res.message
        else:
            if slot not in self._lps:
                self._lps[slot] = AuditLP(self.a_ub, self.b_ub, self.a_eq, self.b_eq)
            lp = self._lps[slot]
            lower = np.array([-math.inf if lo is None else lo for lo, _ in bounds], dtype=float)
            upper = np.array([math.inf if hi is None else hi for _, hi in bounds], dtype=float)
            status, value = lp.solve(col, sign, lower, upper)
            message = lp.message()
            if status == OPTIMAL:
                self._see(lp.solution())
        if status == UNBOUNDED:
            return -math.inf
        if status != OPTIMAL:
            raise DisclosureError(
                f"the audit LP of {self.cells[cell].where()} failed: {message} (the released "
                "counts contradict their declarations)"
            )
        return float(value)


def _linprog(c, a_ub, b_ub, a_eq, b_eq, bounds):
    return linprog(
        c,
        A_ub=a_ub if a_ub.shape[0] else None,
        b_ub=b_ub if a_ub.shape[0] else None,
        A_eq=a_eq if a_eq.shape[0] else None,
        b_eq=b_eq if a_eq.shape[0] else None,
        bounds=bounds,
        method="highs",
    )


def _matrix(rows: list[dict], n: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Rows ``{column: coefficient, -1: right-hand side, "why": text}`` as a sparse matrix and a
    vector (``"why"`` names the relation in messages)."""
    data, ri, ci, rhs = [], [], [], []
    for k, row in enumerate(rows):
        rhs.append(row.get(-1, 0.0))
        for col, coef in row.items():
            if isinstance(col, int) and col >= 0 and coef != 0.0:
                data.append(coef)
                ri.append(k)
                ci.append(col)
    mat = sparse.csr_matrix((data, (ri, ci)), shape=(len(rows), n))
    return mat, np.asarray(rhs, dtype=float)


def _link(
    a: dict[tuple[str, ...], np.ndarray],
    b: dict[tuple[str, ...], np.ndarray],
    rows_eq: list[dict],
    why: str = "",
) -> None:
    for key in sorted(set(a) & set(b)):
        row: dict = {-1: 0.0, "why": f"{why} {key}"}
        for j in a[key]:
            row[int(j)] = 1.0
        for j in b[key]:
            row[int(j)] = row.get(int(j), 0.0) - 1.0
        rows_eq.append(row)


def _bound(low: Cube, up: Cube, shared: list[str], keep: list[str], rows_ub: list[dict]) -> None:
    upper = up.margins(shared)
    for key, lows in low.margins(shared + keep).items():
        ups = upper.get(key[: len(shared)])
        if ups is None:
            continue
        row: dict = {-1: 0.0, "why": f"cube {low.ref.name!r} <= {up.ref.name!r} at {key}"}
        for j in lows:
            row[int(j)] = 1.0
        for j in ups:
            row[int(j)] = row.get(int(j), 0.0) - 1.0
        rows_ub.append(row)


def _ordered(cube: Cube, rows_ub: list[dict]) -> None:
    dim = cube.ref.ordered_by
    others = [d for d in cube.ref.dims if d != dim]
    first = cube.frame.groupby(cube.ids, sort=True).head(1)
    ids = cube.ids[first.index.to_numpy()] + cube.offset
    frame = first.assign(_id=ids, _order=first[dim].astype(float))
    groups = frame.groupby(others, sort=True) if others else [((), frame)]
    for _, rows in groups:
        seq = rows.sort_values("_order")["_id"].to_numpy()
        for prev, nxt in zip(seq[:-1], seq[1:], strict=True):
            rows_ub.append(
                {int(nxt): 1.0, int(prev): -1.0, -1: 0.0, "why": f"cube {cube.ref.name!r} order"}
            )
