"""`bonta` gives a stage one OpenBLAS thread, so that its bytes do not depend on the machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from analysis.cli import BLAS_THREADS

PROBE = (
    "from analysis.cli import one_blas_thread; one_blas_thread(); import numpy, json; "
    "from threadpoolctl import threadpool_info; "
    "print(json.dumps([i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']))"
)


@pytest.mark.parametrize(("chosen", "expected"), [(None, [1]), ("2", [2])])
def test_a_stage_process_has_one_blas_thread_unless_the_caller_chose(chosen, expected):
    env = {k: v for k, v in os.environ.items() if k != BLAS_THREADS}
    if chosen is not None:
        env[BLAS_THREADS] = chosen
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == expected
