"""Building cubes of fine counts from the processed episodes (what stages declare).

A cube lists every fine cell an attacker cannot rule out, zeros included: the full grid of the
levels of its dims (every region the vocabulary names, every injector in the data), so that a
cell missing from the data is an unknown like any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd


def grid_counts(
    rows: pd.DataFrame,
    levels: Mapping[str, Sequence],
    weight: str | None = None,
) -> pd.DataFrame:
    """Counts of ``rows`` (or sums of column ``weight``) on the full grid of ``levels``.

    Parameters
    ----------
    rows
        One row per counted unit (an episode).
    levels
        Dim -> every level it can take, in order; the cube's dims are its keys.
    weight
        Column summed instead of counting rows (a 0/1 event indicator).

    Returns
    -------
    pandas.DataFrame
        One row per grid cell: the dims and ``value``.

    Examples
    --------
    >>> ep = pd.DataFrame({"region": ["a", "a", "b"]})
    >>> grid_counts(ep, {"region": ["a", "b", "c"]})["value"].tolist()
    [2, 1, 0]
    """
    dims = list(levels)
    grid = [[str(v) for v in levels[d]] for d in dims]
    if len(dims) == 1:
        index = pd.Index(grid[0], name=dims[0])
    else:
        index = pd.MultiIndex.from_product(grid, names=dims)
    keyed = rows[dims].astype(str).assign(_w=1 if weight is None else rows[weight].astype(float))
    grouped = keyed.groupby(dims[0] if len(dims) == 1 else dims, observed=True)["_w"].sum()
    return grouped.reindex(index, fill_value=0).rename("value").reset_index()


def with_attribute(cube: pd.DataFrame, name: str, dim: str, mapping: Mapping) -> pd.DataFrame:
    """Add attribute ``name`` to each cell from ``mapping[cell[dim]]`` (a value or a list of
    values; a cell with several repeats on one row per value, and is kept once per value)."""
    values = cube[dim].map(lambda v: mapping.get(v, mapping.get(str(v))))
    out = cube.assign(**{name: values}).explode(name)
    return out.dropna(subset=[name]).reset_index(drop=True)


def complication_cubes(
    episodes: pd.DataFrame,
    type_regions: Mapping[str, Sequence[str]],
    weights: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two cubes behind every complication count: episodes and 30-day events.

    ``episodes``: dims ``region, clinic, injector`` over every (clinic, injector) pair in the
    data (the attacker is assumed to know who works where) with attribute ``complication`` (the
    types whose regions include the region: a row's ``n_treatments`` for a type adds up those
    regions). ``events``: dims ``complication, region, clinic, injector`` (only the type's
    regions); values are the ``c30_<type>`` sums. ``weights`` (``complication, region`` and
    value columns, e.g. the benchmark per type and region) are joined onto the episodes cube
    for the count-weighted averages a provider table shows (:class:`~analysis.disclosure.spec.
    Mix`).
    """
    regions = sorted({r for rs in type_regions.values() for r in rs})
    pairs = episodes[["clinic", "injector"]].astype(str).drop_duplicates()
    pairs = pairs.sort_values(["clinic", "injector"]).reset_index(drop=True)
    types_of: dict[str, list[str]] = {
        r: [t for t, rs in type_regions.items() if r in rs] for r in regions
    }
    ep = pair_grid(episodes, regions, pairs)
    ep = with_attribute(ep, "complication", "region", types_of)
    if weights is not None:
        keyed = weights.assign(
            complication=weights["complication"].astype(str), region=weights["region"].astype(str)
        )
        ep = ep.merge(keyed, how="left", on=["complication", "region"])
    parts = []
    for ctype, rs in type_regions.items():
        rows = episodes.loc[episodes["region"].isin(list(rs))]
        parts.append(pair_grid(rows, list(rs), pairs, f"c30_{ctype}").assign(complication=ctype))
    events = pd.concat(parts, ignore_index=True)
    return ep, events[["complication", "region", "clinic", "injector", "value"]]


def pair_grid(
    rows: pd.DataFrame, regions: Sequence[str], pairs: pd.DataFrame, weight: str | None = None
) -> pd.DataFrame:
    """Counts by region x (clinic, injector) pair, zeros included."""
    grid = pairs.merge(pd.DataFrame({"region": [str(r) for r in regions]}), how="cross")
    keyed = rows[["region", "clinic", "injector"]].astype(str)
    keyed = keyed.assign(_w=1.0 if weight is None else rows[weight].astype(float).to_numpy())
    counts = keyed.groupby(["region", "clinic", "injector"], observed=True)["_w"].sum()
    out = grid.merge(
        counts.rename("value").reset_index(), how="left", on=["region", "clinic", "injector"]
    )
    out["value"] = out["value"].fillna(0.0)
    return out[["region", "clinic", "injector", "value"]]
