"""Regenerate this example export: a tiny simulated cohort in one clinic's own format.

Run from the repository root: ``.venv/bin/python data/example/make_example.py``. The tables are
the simulator's (``simulate_cohort(seed=7, n_patients=12)``) with this clinic's column names,
labels and day-first dates; ``mapping.yaml`` translates them back to the study's contract.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from analysis.config import load_params
from analysis.simulator.cohort import simulate_cohort
from analysis.simulator.config import SimConfig

HERE = Path(__file__).resolve().parent


def main() -> None:
    mapping = yaml.safe_load((HERE / "mapping.yaml").read_text())
    cfg = SimConfig.from_params(load_params("params.yaml"), seed=7, n_patients=12)
    cohort = simulate_cohort(cfg)
    fmt = mapping["date_format"]
    for table, file_name in mapping["files"].items():
        df = getattr(cohort, table).copy()
        for col in df.columns:
            if str(df[col].dtype).startswith("datetime"):
                df[col] = df[col].dt.strftime(fmt)
        for vocab, where in (
            ("region", "region"),
            ("product", "product"),
            ("sex", "sex"),
            ("complication_type", "complication_type"),
        ):
            if where in df.columns and vocab in mapping["values"]:
                back = {v: k for k, v in mapping["values"][vocab].items()}
                df[where] = df[where].map(lambda v, b=back: b.get(v, v))
        if table == "complications":
            back = {v: k for k, v in mapping["values"]["complication_severity"].items()}
            df["severity"] = df["severity"].map(back)
        rename = {v: k for k, v in mapping["columns"][table].items()}
        df.rename(columns=rename).to_csv(HERE / file_name, index=False, lineterminator="\n")


if __name__ == "__main__":
    main()
