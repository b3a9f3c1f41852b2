"""Export figures as PNG with kaleido (headless Chromium; Debian's ``chromium`` works)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import plotly.io as pio

from tuner.report.figures import Figure

WIDTH = 1200
HEIGHT = 650


class PngExportError(RuntimeError):
    """Kaleido could not render; usually no Chromium is installed."""


def find_browser() -> str | None:
    """The Chromium kaleido would start (``$BROWSER_PATH``, PATH, the usual places), or None."""
    try:
        from choreographer.browsers.chromium import Chromium
    except ImportError:  # another kaleido: let it look for itself
        return "unknown"
    path = Chromium.find_browser(skip_local=False)
    return path if path and os.access(path, os.X_OK) else None


def export_pngs(figures: Sequence[Figure], out_dir: Path) -> list[Path]:
    """Write ``<key>.png`` for every figure in one kaleido session (it starts Chromium once)."""
    paths = [out_dir / f"{fig.key}.png" for fig in figures]
    if not figures:
        return paths
    if find_browser() is None:
        raise PngExportError("no Chromium found ($BROWSER_PATH, PATH, /usr/bin/chromium)")
    try:
        pio.write_images(
            [f.figure for f in figures],
            paths,
            width=WIDTH,
            height=[int(f.figure.layout.height or HEIGHT) for f in figures],
        )
    except Exception as exc:  # kaleido raises several unrelated classes
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise PngExportError(
            f"kaleido could not render ({type(exc).__name__}: {first[:300]})"
        ) from exc
    return paths
