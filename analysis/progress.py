"""One progress line per stage and per long step, on stderr: ``[fit-advice] ... (41 s)``.

Library code takes an optional ``progress`` callable (``Callable[[str], None]``) and reports
what it finishes; a stage passes :func:`reporter` of its own name. Lines go to stderr so that
stdout stays the stage's own output (e.g. ``bonta advise --json``). Nothing is printed at import.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

#: What library functions accept: a callable taking one line of text (or None: silent).
ProgressFn = Callable[[str], None]


def reporter(stage: str, stream: TextIO | None = None) -> ProgressFn:
    """A progress callable that prints ``[stage] message`` as one line on ``stream``."""

    def report(message: str) -> None:
        out = stream if stream is not None else sys.stderr
        print(f"[{stage}] {message}", file=out, flush=True)

    return report


def silent(message: str) -> None:
    """The progress callable that reports nothing (the default of library functions)."""


@contextmanager
def step(progress: ProgressFn | None, what: str) -> Iterator[None]:
    """Report ``what done (N s)`` when the block finishes (nothing if ``progress`` is None)."""
    start = time.perf_counter()
    yield
    if progress is not None:
        progress(f"{what} done ({time.perf_counter() - start:.0f} s)")
