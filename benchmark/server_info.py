"""What a server says about itself: version (INFO server) and resident memory."""

from __future__ import annotations

from pathlib import Path

from benchmark.client import BenchmarkClient
from benchmark.endpoint import Endpoint
from benchmark.errors import BenchmarkError
from benchmark.invocation import cli_command


def info_fields(client: BenchmarkClient, endpoint: Endpoint, section: str) -> dict[str, str]:
    """``INFO <section>`` as a dict; empty when the server does not implement it."""
    try:
        text = cli_command(client, endpoint, "INFO", section, timeout=10.0)
    except BenchmarkError:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            key, value = line.split(":", 1)
            out[key.strip()] = value.strip()
    return out


def server_version(client: BenchmarkClient, endpoint: Endpoint) -> str | None:
    """e.g. ``redis 8.0.2``; servers that name themselves otherwise keep their name."""
    info = info_fields(client, endpoint, "server")
    version = info.get("redis_version")
    if version is None:
        return None
    mode = info.get("server_name") or "redis"
    return f"{mode} {version}"


def rss_bytes(client: BenchmarkClient, endpoint: Endpoint) -> int | None:
    """Resident set size: /proc/PID/status when local, else INFO memory used_memory_rss."""
    if endpoint.pid is not None:
        try:
            for line in Path(f"/proc/{endpoint.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
    value = info_fields(client, endpoint, "memory").get("used_memory_rss")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
