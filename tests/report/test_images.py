"""Embedded PNGs with a 256-colour palette: smaller, same size, visually the same."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from analysis.figures.theme import save_figure, theme
from analysis.report.images import compact_png


def _figure_png(tmp_path) -> bytes:
    rng = np.random.default_rng(1)
    with theme():
        fig, ax = plt.subplots(figsize=(6, 4))
        for k in range(5):
            x = np.linspace(0, 10, 200)
            ax.plot(x, np.sin(x + k) + rng.normal(0, 0.05, x.size), label=f"line {k}")
            ax.fill_between(x, np.sin(x + k) - 0.2, np.sin(x + k) + 0.2, alpha=0.2)
        ax.legend()
        save_figure(fig, tmp_path / "f.png")
    return (tmp_path / "f.png").read_bytes()


def test_palette_png_is_smaller_and_looks_the_same(tmp_path):
    original = _figure_png(tmp_path)
    compact = compact_png(original)
    assert len(compact) < 0.6 * len(original)
    a = np.asarray(Image.open(io.BytesIO(original)).convert("RGB"), dtype=float)
    b = np.asarray(Image.open(io.BytesIO(compact)).convert("RGB"), dtype=float)
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 1.0  # of 255
    assert compact_png(original) == compact  # deterministic
    assert compact_png(b"<svg/>") == b"<svg/>"  # other formats untouched
