"""``tuner study report`` on a machine without Chromium: the HTML report is written and
the user is told that PNGs need Chromium; never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.views.conftest import MockStudy, tuner_env


def test_report_without_chromium_writes_html_and_says_why_no_png(
    throughput_study: MockStudy, tmp_path: Path
) -> None:
    env = tuner_env(throughput_study.workdir)
    # kaleido's browser lookup (choreographer) takes $BROWSER_PATH first: none there.
    env["BROWSER_PATH"] = str(tmp_path / "no-chromium")
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "tuner.cli", "study", "report", throughput_study.name,
         "--storage", throughput_study.storage, "-o", str(out)],
        cwd=throughput_study.workdir, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert (out / "report.html").stat().st_size > 10_000
    assert f"wrote {out / 'report.html'}" in done.stdout.replace("\n", "")
    assert "PNGs not written" in done.stderr and "PNGs need Chromium" in done.stderr
    assert not list(out.glob("*.png"))
