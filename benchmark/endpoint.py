"""Where a server answers: the one thing the measurement needs to know about it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    """A server reachable at ``host:port``; ``pid`` (when local) lets RSS come from /proc."""

    name: str
    host: str
    port: int
    pid: int | None = None

    def __str__(self) -> str:
        return f"{self.name}@{self.host}:{self.port}"
