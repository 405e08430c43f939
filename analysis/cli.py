"""The ``bonta`` command: one subcommand per job.

Each job lives in ``analysis.stages.<module>`` and exposes ``HELP`` (one line), ``DESCRIPTION``
(the ``--help`` text), ``configure(parser)`` and ``run(args) -> int``. A job's module is
imported only when that job runs (``bonta --help`` imports them all to list them), so a stage's
import closure, which ``dvc.yaml`` declares as its dependencies, is its own module's.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import warnings

from analysis.errors import BontaError
from analysis.progress import reporter

#: jobs that report no start/done progress lines (their stderr is for the user's own request)
QUIET: frozenset[str] = frozenset({"advise"})

#: subcommand -> module under analysis.stages
COMMANDS: dict[str, str] = {
    "simulate": "simulate",
    "prepare": "prepare",
    "describe": "describe",
    "fit-survival": "fit_survival",
    "fit-complications": "fit_complications",
    "fit-advice": "fit_advice",
    "disclose": "disclose",
    "advise": "advise",
    "report": "report",
    "serve": "serve",
}


def _load(module: str):
    return importlib.import_module(f"analysis.stages.{module}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``bonta`` parser; with ``only`` (a command name) just that job's subparser."""
    parser = argparse.ArgumentParser(
        prog="bonta",
        description=(
            "Botulinum toxin A study: simulate a demo cohort, ingest and validate a clinic export, "
            "fit survival and Bayesian complication models, give re-treatment interval advice, "
            "and build the reports. Every pipeline job reads params.yaml; `dvc repro` runs them "
            "in order."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        if only is not None and name != only:
            continue
        try:
            mod = _load(module)
        except ModuleNotFoundError as exc:  # a job not built yet must not break the others
            if exc.name and exc.name.startswith("analysis.stages"):
                continue
            raise
        p = sub.add_parser(
            name,
            help=mod.HELP,
            description=getattr(mod, "DESCRIPTION", mod.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.configure(p)
        p.set_defaults(_run=mod.run)
    return parser


def use_file_backend() -> None:
    """Draw figures with Matplotlib's file-only Agg backend (no display; same PNG bytes anywhere).

    Called once where a program starts (:func:`main`, the test session), never at import.
    """
    import matplotlib

    matplotlib.use("Agg")


#: ArviZ's once-a-day notice of its coming 1.0 refactor (a FutureWarning at import, printed by
#: whichever stage imports it first that day): about the library's future API, not this run.
ARVIZ_REFACTOR_NOTICE = r"\s*ArviZ is undergoing a major refactor"


def quiet_library_notices() -> None:
    """Silence library notices that say nothing about the run (narrowly, by message)."""
    warnings.filterwarnings("ignore", message=ARVIZ_REFACTOR_NOTICE, category=FutureWarning)


#: OpenBLAS's thread count (numpy's and SciPy's BLAS), read once, when a process loads it.
BLAS_THREADS = "OPENBLAS_NUM_THREADS"


def one_blas_thread() -> None:
    """One OpenBLAS thread for this program unless the caller chose a number (before numpy loads).

    A sum split over threads adds in another order: fit_survival's outputs on the demo differed
    in their last digits between one and two threads, so with numpy's default (a thread per
    core) the same stage gave other bytes on another machine, or under ``./run pipeline`` (stages
    side by side) than under plain ``dvc repro``. One thread also costs nothing here: the model
    stages spend their time in Numba and nutpie, not BLAS, and OpenBLAS's idle threads spin on
    their cores between calls, taking them from the stage running beside (demo pipeline: 456 s and
    852 CPU-s with a thread per core, 427 s and 781 CPU-s with one, 4 December 2026)."""
    os.environ.setdefault(BLAS_THREADS, "1")


def main(argv: list[str] | None = None) -> int:
    one_blas_thread()
    use_file_backend()
    quiet_library_notices()
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    progress = None if args.command in QUIET else reporter(args.command)
    start = time.perf_counter()
    if progress:
        progress("started")
    try:
        code = int(args._run(args) or 0)
    except BontaError as exc:
        print(f"bonta {args.command}: error: {exc}", file=sys.stderr)
        return 1
    if progress:
        progress(f"done ({time.perf_counter() - start:.0f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
