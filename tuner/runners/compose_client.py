"""redis-benchmark and redis-cli run with ``docker exec`` inside the bench container.

The bench container (image redis:8.0, pinned to the client CPU set) sits on the same
Docker network as the server and its baseline, so endpoints are container names and the
tuner itself may run on another machine (``DOCKER_HOST``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from benchmark.client import ToolRun, run_tool
from benchmark.endpoint import Endpoint
from benchmark.errors import BenchmarkError
from benchmark.prefill import resp

#: Seconds the in-container ``timeout`` fires before the host-side one, so a hung tool is
#: killed inside the container (the docker CLI exiting alone would leave it running there).
_INNER_TIMEOUT_MARGIN_S = 5.0


class DockerExecClient:
    """A benchmark.client.BenchmarkClient whose tools run in ``container`` via ``docker exec``."""

    def __init__(self, container: str, *, docker: str = "docker") -> None:
        self.container = container
        self.docker = docker

    def benchmark(self, endpoint: Endpoint, args: Sequence[str], *, timeout: float) -> ToolRun:
        """Run ``redis-benchmark -h HOST -p PORT ARGS`` in the container."""
        return self._exec("redis-benchmark", endpoint, args, stdin=None, timeout=timeout)

    def cli(
        self,
        endpoint: Endpoint,
        args: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
    ) -> ToolRun:
        """Run ``redis-cli -h HOST -p PORT ARGS`` in the container (``--pipe`` reads stdin)."""
        return self._exec("redis-cli", endpoint, args, stdin=stdin, timeout=timeout)

    def pipeline(
        self, endpoint: Endpoint, commands: Iterable[Sequence[str]], *, timeout: float = 120.0
    ) -> int:
        """``redis-cli --pipe`` in the container: the endpoint is a container name on the
        Docker network, which only the bench container can reach (``DOCKER_HOST``)."""
        data = b"".join(resp(c) for c in commands)
        if not data:
            return 0
        run = self.cli(endpoint, ["--pipe"], stdin=data, timeout=timeout)
        if run.returncode != 0 or "errors: 0," not in run.stdout:
            raise BenchmarkError(
                f"redis-cli --pipe to {endpoint} failed (status {run.returncode}): "
                f"{run.stdout.strip()[-300:]}",
                stderr=run.stderr or run.stdout,
                argv=run.argv,
            )
        replies = run.stdout.rsplit("replies: ", 1)[-1].strip()
        return int(replies) if replies.isdigit() else 0

    def exec_argv(
        self, tool: str, endpoint: Endpoint, args: Sequence[str], *, timeout: float
    ) -> list[str]:
        """The docker command line for one tool run (tests and error messages show it)."""
        inner = max(1, int(timeout - _INNER_TIMEOUT_MARGIN_S))
        return [
            self.docker,
            "exec",
            "-i",
            self.container,
            "timeout",
            "-s",
            "KILL",
            str(inner),
            tool,
            "-h",
            endpoint.host,
            "-p",
            str(endpoint.port),
            *args,
        ]

    def _exec(
        self,
        tool: str,
        endpoint: Endpoint,
        args: Sequence[str],
        *,
        stdin: bytes | None,
        timeout: float,
    ) -> ToolRun:
        argv = self.exec_argv(tool, endpoint, args, timeout=timeout)
        # `docker exec -i` waits for stdin EOF; give it an empty one when there is no input.
        run = run_tool(argv, stdin=stdin if stdin is not None else b"", timeout=timeout)
        if run.returncode in (125, 126, 127) and _is_docker_error(run.stderr):
            # The docker CLI failed (no such container, daemon gone), not the tool.
            run = ToolRun(
                run.argv, run.returncode, run.stdout, f"docker exec: {run.stderr}", run.seconds
            )
        return run


def _is_docker_error(stderr: str) -> bool:
    text = stderr.lower()
    return "error response from daemon" in text or "cannot connect to the docker daemon" in text
