"""The attacker's LP (analysis/disclosure/model.py) and the suppression (protect.py) on tables
small enough to know the answer: a 2x2 table with its margins, an identity inside a table, a
bound between measures, linked cubes, and intervals checked against every integer table."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from analysis.disclosure.config import DisclosureConfig
from analysis.disclosure.model import (
    PRIMARY,
    SECONDARY,
    SHOWN,
    DisclosureError,
    LinkedTables,
    TableDecl,
)
from analysis.disclosure.protect import primary_status, protect
from analysis.disclosure.spec import Below, Count, CubeRef, TableSum

CONFIG = DisclosureConfig(min_count=5, protection_width=5.0)


def two_way(values: np.ndarray) -> tuple[LinkedTables, pd.DataFrame]:
    """A table of ``values`` (rows a, columns b) released with row, column and grand totals."""
    rows, cols = values.shape
    cube = pd.DataFrame(
        [(f"a{i}", f"b{j}", values[i, j]) for i in range(rows) for j in range(cols)],
        columns=["a", "b", "value"],
    )
    inner = cube.rename(columns={"value": "n"})
    row_tot = cube.groupby("a", as_index=False)["value"].sum().rename(columns={"value": "n"})
    col_tot = cube.groupby("b", as_index=False)["value"].sum().rename(columns={"value": "n"})
    grand = pd.DataFrame({"n": [cube["value"].sum()]})
    ref = CubeRef("t", "episodes", ("a", "b"), "t.parquet")
    tables = [
        TableDecl("inner", inner, (Count("n", cube="t", by={"a": "a", "b": "b"}),)),
        TableDecl("rows", row_tot, (Count("n", cube="t", by={"a": "a"}),)),
        TableDecl("cols", col_tot, (Count("n", cube="t", by={"b": "b"}),)),
        TableDecl("grand", grand, (Count("n", cube="t"),)),
    ]
    return LinkedTables([(ref, cube)], tables), inner


def inner_cell(model: LinkedTables, i: int, j: int, cols: int) -> int:
    return model.cell_of[("inner", i * cols + j, "n")]


def test_a_small_cell_beside_its_margins_is_recovered_exactly_without_complements():
    model, _ = two_way(np.array([[2, 10], [7, 9]]))
    status = primary_status(model, 5)
    assert status.tolist().count(PRIMARY) == 1
    assert model.interval(inner_cell(model, 0, 0, 2), status) == pytest.approx((2.0, 2.0))


def test_protection_of_a_2x2_cell_needs_three_more_counts():
    """With all margins shown, protecting one cell of a 2x2 table costs three more counts moved
    by the protection width: the other three cells (the hypercube method's answer) or, at the
    same cost, one cell and the two column totals (which of the two the LP returns depends on
    its start); the grand total is never the cheaper choice."""
    model, _ = two_way(np.array([[2, 10], [7, 9]]))
    result = protect(model, CONFIG)
    inner = [inner_cell(model, i, j, 2) for i in range(2) for j in range(2)]
    grand = len(model.cells) - 1
    assert result.status[inner[0]] == PRIMARY
    assert result.n_secondary == 3 and result.status[grand] == SHOWN
    lower, upper = model.interval(inner[0], result.status)
    assert lower == pytest.approx(1.0) and upper - lower >= 5
    assert result.min_width(5) >= 5


def test_lp_intervals_equal_the_range_over_every_integer_table():
    """A 3x3 table with margins is totally unimodular: the LP interval of a suppressed cell is
    attained by integer tables. Enumerate them all and compare."""
    values = np.array([[3, 6, 8], [5, 2, 9], [7, 6, 1]])
    model, _ = two_way(values)
    status = np.full(len(model.cells), SHOWN)
    hidden = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (0, 2), (2, 0)]
    for i, j in hidden:
        status[inner_cell(model, i, j, 3)] = SECONDARY
    row_tot, col_tot = values.sum(1), values.sum(0)
    seen = []
    for x00, x01 in itertools.product(range(40), range(40)):  # two degrees of freedom
        t = values.copy()
        t[0, 0], t[0, 1] = x00, x01
        t[0, 2] = row_tot[0] - x00 - x01
        t[1, 1] = col_tot[1] - x01 - t[2, 1]
        t[1, 0] = row_tot[1] - t[1, 1] - t[1, 2]
        t[2, 0] = col_tot[0] - x00 - t[1, 0]
        t[2, 2] = row_tot[2] - t[2, 0] - t[2, 1]
        ok = (t.sum(0) == col_tot).all() and (t.sum(1) == row_tot).all()
        if ok and all(t[i, j] >= 1 for i, j in hidden):
            seen.append(t[0, 0])
    assert len(seen) > 1
    lower, upper = model.interval(inner_cell(model, 0, 0, 3), status)
    assert (lower, upper) == (min(seen), max(seen))


def test_an_identity_inside_a_table_recovers_a_small_exclusion():
    dq = pd.DataFrame(
        {
            "table": ["x", "x"],
            "rows_in": [50, 50],
            "rows_kept": [45, 45],
            "rows_excluded": [3, 2],
            "reason": ["r1", "r2"],
        }
    )
    counts = (
        Count("rows_in", family="in", by={"table": "table"}),
        Count("rows_kept", family="kept", by={"table": "table"}),
        Count("rows_excluded", family="ex", by={"table": "table", "reason": "reason"}),
    )
    total = (TableSum("rows_in", ("rows_kept", "rows_excluded"), ("table",)),)
    model = LinkedTables([], [TableDecl("dq", dq, counts, total)])
    assert len(model.cells) == 4  # rows_in and rows_kept repeat: one cell each
    status = primary_status(model, 5)
    ex = model.cell_of[("dq", 0, "rows_excluded")]
    lower, upper = model.interval(ex, status)
    assert upper - lower == pytest.approx(3.0)  # 50 - 45 - (>= 1) = 4 at most, >= 1
    result = protect(model, CONFIG)
    # one complement is enough, and rows_in or rows_kept cost the same (5 units of move):
    # either may be chosen, never both, and the exclusions are then protected
    complements = [
        result.status[model.cell_of[("dq", 0, name)]] == SECONDARY
        for name in ("rows_in", "rows_kept")
    ]
    assert sum(complements) == 1
    assert result.min_width(5) >= 5


def test_events_never_exceed_episodes_and_an_indicator_bounds_a_hidden_count():
    cube_ep = pd.DataFrame({"g": ["a", "b"], "value": [3.0, 40.0]})
    cube_ev = pd.DataFrame({"g": ["a", "b"], "value": [1.0, 9.0]})
    table = pd.DataFrame(
        {"g": ["a", "b"], "n_treatments": [3, 40], "n_events": [1, 9], "few": [True, False]}
    )
    counts = (
        Count("n_treatments", cube="ep", by={"g": "g"}),
        Count("n_events", cube="ev", by={"g": "g"}),
    )
    refs = [
        (CubeRef("ep", "episodes", ("g",), "x"), cube_ep),
        (CubeRef("ev", "complication_events", ("g",), "y"), cube_ev),
    ]
    model = LinkedTables(
        refs, [TableDecl("t", table, counts, below=(Below("few", "n_treatments", 5),))]
    )
    status = np.full(len(model.cells), SECONDARY)  # every count hidden
    n_a = model.cell_of[("t", 0, "n_treatments")]
    ev_a = model.cell_of[("t", 0, "n_events")]
    assert model.upper(n_a, status) == pytest.approx(4.0)  # few = True: below 5
    assert model.upper(ev_a, status) == pytest.approx(4.0)  # events <= episodes <= 4
    n_b = model.cell_of[("t", 1, "n_treatments")]
    assert model.lower(n_b, status) == pytest.approx(5.0)  # few = False: at least 5


def test_cubes_of_one_measure_share_their_margins():
    """Episodes by region x injector and by region x quarter are the same people: a region
    total shown in one recovers a hidden cell of the other."""
    a = pd.DataFrame({"region": ["r", "r"], "injector": ["i", "j"], "value": [2.0, 30.0]})
    b = pd.DataFrame({"region": ["r", "r"], "quarter": ["q1", "q2"], "value": [12.0, 20.0]})
    by_injector = pd.DataFrame({"injector": ["i", "j"], "n": [2, 30]})
    by_quarter = pd.DataFrame({"quarter": ["q1", "q2"], "n": [12, 20]})
    refs = [
        (CubeRef("a", "episodes", ("region", "injector"), "a"), a),
        (CubeRef("b", "episodes", ("region", "quarter"), "b"), b),
    ]
    tables = [
        TableDecl("inj", by_injector, (Count("n", cube="a", by={"injector": "injector"}),)),
        TableDecl("qtr", by_quarter, (Count("n", cube="b", by={"quarter": "quarter"}),)),
    ]
    model = LinkedTables(refs, tables)
    status = primary_status(model, 5)
    small = model.cell_of[("inj", 0, "n")]
    assert model.interval(small, status) == pytest.approx((2.0, 2.0))  # 12 + 20 - 30
    result = protect(model, CONFIG)
    assert result.min_width(5) >= 5


#: episodes by clinic x region x quarter: clinic c1 treats r1 in q1 and r2 in q2, c2 the same
#: (every treatment of r1 falls in q1 and of r2 in q2)
JOINT = pd.DataFrame(
    [
        (c, r, q, 10.0 if (r, q) in {("r1", "q1"), ("r2", "q2")} else 0.0)
        for c in ("c1", "c2")
        for r in ("r1", "r2")
        for q in ("q1", "q2")
    ],
    columns=["clinic", "region", "quarter", "value"],
)


def _clinic_quarter_interval(cubes: dict[str, tuple[str, ...]], cube_of: dict) -> tuple:
    """Interval of clinic c1's episodes in q1 (every clinic x quarter cell suppressed) given
    the clinic x region and region x quarter tables, with ``cubes`` (name -> dims, margins of
    :data:`JOINT`) and each table's cube (``cube_of``: table dims -> cube name)."""
    refs = [
        (CubeRef(n, "episodes", d, n), JOINT.groupby(list(d), as_index=False)["value"].sum())
        for n, d in cubes.items()
    ]
    tables = []
    for dims, cube in cube_of.items():
        frame = (
            JOINT.groupby(list(dims), as_index=False)["value"].sum().rename(columns={"value": "n"})
        )
        by = {d: d for d in dims}
        tables.append(TableDecl("_".join(dims), frame, (Count("n", cube=cube, by=by),)))
    model = LinkedTables(refs, tables)
    status = np.full(len(model.cells), SHOWN)
    hidden = [model.cell_of[("clinic_quarter", k, "n")] for k in range(4)]
    status[hidden] = SECONDARY
    return model.interval(hidden[0], status)


def test_pairwise_links_are_exact_on_a_tree_of_cubes_and_not_around_a_cycle():
    """Why the clinic pages' cube is clinic x region x quarter (analysis/cohort/clinics.py):
    published by clinic x region and region x quarter, c1's episodes in q1 are exactly its
    episodes of r1 (10: nothing of r1 falls in q2). One clinic x region x quarter cube linked
    to a region x quarter cube (a tree) gives the audit that answer; separate clinic x region,
    region x quarter and clinic x quarter cubes (a cycle) leave the audit a wide interval that
    no table of fine counts attains: it would pass a cell a reader can work out."""
    tree = _clinic_quarter_interval(
        {"crq": ("clinic", "region", "quarter"), "rq": ("region", "quarter")},
        {("clinic", "region"): "crq", ("region", "quarter"): "rq", ("clinic", "quarter"): "crq"},
    )
    assert tree == pytest.approx((10.0, 10.0))
    cycle = _clinic_quarter_interval(
        {
            "cr": ("clinic", "region"),
            "rq": ("region", "quarter"),
            "cq": ("clinic", "quarter"),
        },
        {("clinic", "region"): "cr", ("region", "quarter"): "rq", ("clinic", "quarter"): "cq"},
    )
    assert cycle[1] - cycle[0] >= 5


def test_a_declaration_that_does_not_add_up_names_the_cell_and_not_the_value():
    cube = pd.DataFrame({"g": ["a", "b"], "value": [3.0, 40.0]})
    table = pd.DataFrame({"g": ["a", "b"], "n": [3, 41]})
    with pytest.raises(DisclosureError) as err:
        LinkedTables(
            [(CubeRef("c", "episodes", ("g",), "x"), cube)],
            [TableDecl("stage/tab", table, (Count("n", cube="c", by={"g": "g"}),))],
        )
    message = str(err.value)
    assert "stage/tab, row 2, column 'n'" in message and "41" not in message


def test_an_undeclared_row_of_a_count_column_stops_the_release():
    table = pd.DataFrame({"kind": ["a", "b"], "n": [3, 41]})
    with pytest.raises(DisclosureError, match="row 2, column 'n': no count declaration"):
        LinkedTables([], [TableDecl("t", table, (Count("n", where={"kind": "a"}),))])


def test_relations_the_true_counts_break_are_refused():
    """Two cubes of one measure that disagree on a shared margin mean a wrong declaration."""
    a = pd.DataFrame({"region": ["r"], "value": [5.0]})
    b = pd.DataFrame({"region": ["r"], "value": [6.0]})
    with pytest.raises(DisclosureError, match="cubes 'a' and 'b' agree on"):
        LinkedTables(
            [
                (CubeRef("a", "episodes", ("region",), "a"), a),
                (CubeRef("b", "episodes", ("region",), "b"), b),
            ],
            [],
        )


def test_the_warm_started_complement_lp_costs_what_linprog_from_scratch_costs():
    """A sequence of complement LPs (cells withheld as the loop would) on one warm-started HiGHS
    model: each optimal cost equals the one of scipy's linprog solving it from scratch."""
    from analysis.disclosure.protect import ComplementLP

    rng = np.random.default_rng(11)
    model, _ = two_way(rng.integers(5, 30, size=(4, 5)))
    status = primary_status(model, CONFIG.min_count)
    warm = ComplementLP(model, CONFIG)
    inner = [inner_cell(model, i, j, 5) for i in range(4) for j in range(5)]
    for step, cell in enumerate(rng.choice(inner, size=6, replace=False)):
        status[cell] = PRIMARY
        target = float(model.values[cell]) + 3.0 + step
        cost, _ = warm.problem(status, int(cell), target)
        code, _, moves = warm.moves(status, int(cell), target)
        model.solver = "linprog"
        try:
            cold = ComplementLP(model, CONFIG)
            code_ref, _, moves_ref = cold.moves(status, int(cell), target)
        finally:
            model.solver = "highs"
        k = len(warm.candidates)
        weights = cost[model.n : model.n + k]
        assert code == code_ref == 0
        assert weights @ moves == pytest.approx(weights @ moves_ref, abs=1e-9)
        status[warm.candidates[(moves > 1e-6) & (status[warm.candidates] == SHOWN)]] = SECONDARY
