"""R as a cross-check (validation scripts and benchmarks only; never a pipeline stage or test).

:func:`ensure_r` finds ``Rscript`` with the ``survival`` package, installing Debian's
``r-base-core r-cran-survival`` with apt-get when they are missing (as root, or through sudo),
and raises :class:`RUnavailable` saying what failed when it cannot. :func:`run_r` runs a
script in a directory and returns its standard output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

DEBIAN_PACKAGES = ("r-base-core", "r-cran-survival")


class RUnavailable(RuntimeError):
    """R with the survival package is not available and could not be installed."""


def _has_survival(rscript: str) -> bool:
    out = subprocess.run(
        [
            rscript,
            "-e",
            "suppressMessages(library(survival)); cat(format(packageVersion('survival')))",
        ],
        capture_output=True,
        text=True,
    )
    return out.returncode == 0


def ensure_r(log=print) -> str:
    """Path of ``Rscript`` with ``survival``; install the Debian packages if needed."""
    rscript = shutil.which("Rscript")
    if rscript and _has_survival(rscript):
        return rscript
    log(
        "R or its survival package is missing: installing Debian's "
        f"{' '.join(DEBIAN_PACKAGES)} with apt-get"
    )
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        [*sudo, "apt-get", "update", "-qq"],
        [*sudo, "apt-get", "install", "-y", "-qq", *DEBIAN_PACKAGES],
    ):
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if res.returncode != 0:
            raise RUnavailable(
                f"could not install R ({' '.join(cmd)} failed: {res.stderr.strip()[-300:]}); "
                f"install {' '.join(DEBIAN_PACKAGES)} and run again"
            )
    rscript = shutil.which("Rscript")
    if not rscript or not _has_survival(rscript):
        raise RUnavailable("R was installed but Rscript or library(survival) still fails")
    return rscript


def r_versions(rscript: str) -> str:
    """``R x.y.z, survival a.b-c``."""
    out = subprocess.run(
        [
            rscript,
            "-e",
            "suppressMessages(library(survival)); cat(R.version$major, '.', R.version$minor, "
            "', survival ', format(packageVersion('survival')), sep='')",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return "R " + out.stdout.strip()


def run_r(rscript: str, script: str, workdir: Path, timeout: float = 3600) -> str:
    """Run ``script`` (R code) with ``workdir`` as working directory; return its stdout."""
    path = Path(workdir) / "script.R"
    path.write_text(script)
    res = subprocess.run(
        [rscript, "--vanilla", str(path)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if res.returncode != 0:
        print(res.stderr[-3000:], file=sys.stderr)
        raise RuntimeError(f"R script failed with exit code {res.returncode}")
    return res.stdout
