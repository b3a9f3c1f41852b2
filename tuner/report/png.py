"""Export figures as PNG with kaleido (headless Chromium; Debian's ``chromium`` works)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import plotly.io as pio

from tuner.report.figures import Figure

WIDTH = 1200
HEIGHT = 650


class PngExportError(RuntimeError):
    """Kaleido could not render; usually no Chromium is installed."""


def export_pngs(figures: Sequence[Figure], out_dir: Path) -> list[Path]:
    """Write ``<key>.png`` for every figure in one kaleido session (it starts Chromium once)."""
    paths = [out_dir / f"{fig.key}.png" for fig in figures]
    if not figures:
        return paths
    try:
        pio.write_images(
            [f.figure for f in figures],
            paths,
            width=WIDTH,
            height=[int(f.figure.layout.height or HEIGHT) for f in figures],
        )
    except Exception as exc:  # kaleido raises several unrelated classes
        raise PngExportError(
            f"PNG export failed ({type(exc).__name__}: {exc}); install Chromium "
            "(Debian: apt-get install chromium) or pass --no-png"
        ) from exc
    return paths
