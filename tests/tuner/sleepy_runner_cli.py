"""``tuner`` CLI with one extra runner, "sleepy", that starts real child processes.

Used by test_tuner_interrupts.py: each evaluation starts two ``sleep`` processes (one in
its own process group, like a server; one in ours) and records their pids in
``$SLEEPY_PIDS``. ``close()`` stops only the process-group one, on purpose, so the
study's own safety net (kill_descendants) must catch the other.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tuner.runners import RUNNERS
from tuner.runners.base import Candidate, Measurement, Progress, ProgressCallback


class SleepyRunner:
    name = "sleepy"

    def __init__(self, spec: Any, *, pidfile: Any = None, work_dir: Any = None, **_: Any) -> None:
        self.pidfile = pidfile
        self.leader: subprocess.Popen[bytes] | None = None
        self.record = Path(os.environ["SLEEPY_PIDS"])

    def evaluate(
        self,
        candidate: Candidate,
        *,
        repetitions: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Measurement:
        self.leader = subprocess.Popen(["sleep", "300"], start_new_session=True)
        stray = subprocess.Popen(["sleep", "301"])
        if self.pidfile is not None:
            self.pidfile.add(self.leader.pid)
        with self.record.open("a") as handle:
            handle.write(f"{self.leader.pid} {stray.pid}\n")
        reps = repetitions or 4
        for rep in range(1, reps + 1):
            time.sleep(float(os.environ.get("SLEEPY_DELAY", "0.3")))
            if on_progress is not None:
                on_progress(Progress(rep, 100.0 + rep, 95.0, 110.0))
        self.close()
        stray.kill()
        stray.wait()
        return Measurement(100.0, 95.0, 105.0, 1.0, {"SET@P1": 1.0}, reps, "max_repetitions", {})

    def close(self) -> None:
        if self.leader is not None and self.leader.poll() is None:
            os.killpg(self.leader.pid, signal.SIGKILL)
            self.leader.wait()
            if self.pidfile is not None:
                self.pidfile.remove(self.leader.pid)


RUNNERS["sleepy"] = lambda spec, **opts: SleepyRunner(spec, **opts)

if __name__ == "__main__":
    from tuner.cli import app

    sys.argv[0] = "tuner"
    app()
