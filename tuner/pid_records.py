"""Per-worker records of the processes a tuner started (servers, builds).

Each tuner process writes its own file, ``<dir>/<owner>.pids``, named by its identity
(``host:pid:start``, see tuner.processes.owner_id). A worker that starts reaps only the
records whose owner is dead on this host: a SIGKILLed run's servers die, a live peer's
servers and ``docker build`` keep running (the compose runner's owner labels work the
same way).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from tuner.processes import ProcessId, owner_alive, owner_id, terminate

__all__ = ["PidFile"]

SUFFIX = ".pids"


class PidFile:
    """The processes one tuner process started, one ``pid:start`` line each.

    Runners call :meth:`add` after starting a process and :meth:`remove` after stopping
    it; :meth:`reap_orphans` cleans up after dead owners before a run's first trial.
    """

    def __init__(self, directory: Path, owner: str | None = None) -> None:
        self.directory = directory
        self.owner = owner or owner_id()
        self.path = directory / f"{self.owner}{SUFFIX}"

    def add(self, pid: int) -> None:
        ident = ProcessId.of(pid)
        if ident is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(f"{ident}\n")

    def remove(self, pid: int) -> None:
        self._write([e for e in _entries(self.path) if e.pid != pid])

    def reap_orphans(self, timeout_s: float = 5.0) -> list[int]:
        """Kill what dead tuner processes on this host left running; drop their records.

        Records of live owners (peers on this host) and of other hosts are left alone.
        """
        killed: list[int] = []
        for record in sorted(self.directory.glob(f"*{SUFFIX}")):
            owner = record.name[: -len(SUFFIX)]
            if owner == self.owner or owner_alive(owner) is not False:
                continue
            alive = [e for e in _entries(record) if e.alive()]
            terminate(alive, timeout_s)
            killed.extend(e.pid for e in alive)
            with contextlib.suppress(FileNotFoundError):
                record.unlink()
        return killed

    def _write(self, entries: list[ProcessId]) -> None:
        if not entries:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        self.path.write_text("".join(f"{e}\n" for e in entries))


def _entries(path: Path) -> list[ProcessId]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    return [e for e in map(ProcessId.parse, lines) if e is not None]
