"""The local runner: build, start and benchmark the candidate on this machine.

Per trial: get the binary from the :class:`BuildCache` (a runtime-only change never
rebuilds), write the config file and fill the args/env templates (``delivery``), start
the candidate and a fresh baseline pinned to the same CPUs on free ports, load the
spec's datasets into both and read bytes per key when it names any
(:mod:`tuner.runners.memory_probe`), run :class:`benchmark.paired.PairedRun`, stop both.

Baseline lifetime: a fresh baseline per trial. The candidate always starts cold, so the
baseline must too: a Redis kept alive for a 10-hour study would age (allocator state,
fragmentation, keyspace history) while every candidate is new, and one baseline crash
would poison every later trial. Starting Redis costs well under a second.

Every process this runner starts runs in its own process group and is recorded in the
study's :class:`tuner.signals.PidFile`, so a run that follows a SIGKILL kills leftovers.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmark.errors import BenchmarkError, ServerStartError
from tuner.runners.base import Candidate, Measurement, Progress, ProgressCallback, TrialFailure
from tuner.runners.build_cache import BuildCache, tail
from tuner.runners.config_file import ConfigFileError, write_config
from tuner.runners.delivery import baseline_launch, candidate_launch


class LocalRunner:
    """Runner for a parsed StudySpec on this machine (see the module docstring).

    ``work_dir`` holds per-trial files (config, server logs); ``cache_dir`` the build
    cache (default: ``.build-cache`` next to ``work_dir``, shared by studies);
    ``pidfile`` records started servers (a dead run's leftovers are killed here).
    """

    name = "local"

    def __init__(
        self,
        spec: Any,
        *,
        work_dir: Path | None = None,
        cache_dir: Path | None = None,
        pidfile: Any = None,
        seed: int | None = None,
        client: Any = None,
    ) -> None:
        from tuner.pid_records import PidFile

        self.spec = spec
        # Absolute: servers run with their own cwd, and a relative config path would miss.
        work_dir = Path(work_dir) if work_dir is not None else spec.base_dir / spec.name
        self.work_dir = work_dir.resolve()
        if cache_dir is None:
            cache_dir = self.work_dir.parent / ".build-cache"
        self.cache = BuildCache.for_spec(spec, Path(cache_dir))
        self.pidfile = pidfile if pidfile is not None else PidFile(self.work_dir / "pids")
        self.leftovers_killed: list[int] = self.pidfile.reap_orphans()
        self.seed = seed
        # Resolve the tools now: a missing Redis 8 is a setup error, not 200 failed trials.
        self.baseline_binary: Path | None = None
        try:
            if spec.baseline.binary is not None and not spec.baseline.same_as_target:
                self.baseline_binary = resolve_redis_binary(spec.baseline.binary, spec.base_dir)
            if client is None:
                name = spec.client.binary or "redis-benchmark"
                benchmark_tool = resolve_redis_binary(name, spec.base_dir)
        except TrialFailure as exc:
            from tuner.runners import RunnerUnavailable

            raise RunnerUnavailable(f"runner 'local': {exc.reason}") from None
        if client is None:
            from benchmark.client import LocalClient

            client = LocalClient(benchmark_tool.parent, cpus=spec.client.cpus)
        self._client = client
        self._servers: list[Any] = []
        self._trials = 0

    # --- Runner protocol -------------------------------------------------------------

    def evaluate(
        self,
        candidate: Candidate,
        *,
        repetitions: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Measurement:
        """Build (cached), start both servers, run the paired benchmark, stop both."""
        self._trials += 1
        trial_dir = self.work_dir / "trials" / f"{self._trials:05d}-{os.getpid()}"
        trial_dir.mkdir(parents=True, exist_ok=True)
        timings = {"build": 0.0, "start": 0.0, "benchmark": 0.0}

        build = self.cache.ensure(candidate.build)
        timings["build"] = build.seconds
        started = time.monotonic()
        try:
            server = self.start_candidate(build.binary, candidate, trial_dir)
            baseline, baseline_process = self._start_baseline(trial_dir)
            timings["start"] = time.monotonic() - started

            def on_repetition(update: Any) -> None:
                if server.returncode is not None:
                    raise TrialFailure(
                        f"server crashed during benchmark (exit {server.returncode})",
                        server.log_tail(),
                    )
                if on_progress is not None:
                    on_progress(
                        Progress(
                            update.repetition,
                            update.fitness,
                            update.ci_low,
                            update.ci_high,
                            update.max_repetitions,
                        )
                    )

            from benchmark.paired import PairedRun

            bench_started = time.monotonic()
            memory = self._measure_memory(server, baseline, baseline_process)
            paired = PairedRun(
                server.endpoint,
                baseline,
                self.spec.workload,
                self._client,
                seed=None if self.seed is None else self.seed + self._trials,
                on_repetition=on_repetition,
                max_repetitions=repetitions,
            )
            try:
                result = paired.run()
            except BenchmarkError as exc:
                if server.returncode is not None:
                    raise TrialFailure(
                        f"server crashed during benchmark (exit {server.returncode})",
                        server.log_tail(),
                    ) from None
                if baseline_process is not None and baseline_process.returncode is not None:
                    raise TrialFailure(
                        f"baseline crashed during benchmark (exit {baseline_process.returncode})",
                        baseline_process.log_tail(),
                    ) from None
                raise TrialFailure(
                    f"benchmark failed: {exc.message}", tail(exc.stderr or str(exc))
                ) from None
            if server.returncode is not None:
                raise TrialFailure(
                    f"server exited during benchmark (exit {server.returncode})",
                    server.log_tail(),
                )
            timings["benchmark"] = time.monotonic() - bench_started
        finally:
            self._stop_all()
        return _measurement(result, timings, build.tag, memory)

    def close(self) -> None:
        """Stop every server this runner started. Idempotent."""
        self._stop_all()

    # --- internals -------------------------------------------------------------------

    def _measure_memory(self, server: Any, baseline: Any, baseline_process: Any) -> Any:
        """The datasets' bytes per key in both fresh servers (None without a dataset)."""
        if not self.spec.datasets:
            return None
        from tuner.runners.memory_probe import measure_memory

        try:
            return measure_memory(
                server.endpoint,
                baseline,
                self.spec.datasets,
                candidate_pid=server.pid,
                baseline_pid=None if baseline_process is None else baseline_process.pid,
            )
        except TrialFailure as failure:
            if server.returncode is not None:
                raise TrialFailure(
                    f"server crashed while loading the dataset (exit {server.returncode})",
                    server.log_tail(),
                ) from None
            raise failure from None

    def start_candidate(self, binary: Path, candidate: Candidate, trial_dir: Path) -> Any:
        """Start ``binary`` on a free port with the candidate's args, env and config file
        (a :class:`benchmark.server_process.ServerProcess`, stopped by :meth:`close`)."""
        from benchmark.server_process import free_port

        target = self.spec.target
        config_path = trial_dir / Path(target.config_path).name
        port = free_port()
        launch = candidate_launch(
            target, candidate.build, candidate.runtime, port=port, config_path=str(config_path)
        )
        if launch.config is not None:
            try:
                write_config(launch.config, config_path, launch.config_format)
            except ConfigFileError as exc:
                raise TrialFailure(f"cannot write the config file: {exc}") from None
        argv = [str(binary), *launch.args]
        timeout = target.ready_timeout_s
        return self._start("candidate", argv, launch.env, target.cpus, trial_dir, timeout, port)

    def _start_baseline(self, trial_dir: Path) -> tuple[Any, Any]:
        """(endpoint, process or None when the spec names a running host:port)."""
        from benchmark.endpoint import Endpoint
        from benchmark.server_process import free_port

        baseline = self.spec.baseline
        if baseline.host_port is not None:
            host, port = baseline.host_port
            return Endpoint("baseline", host, port), None
        port = free_port()
        if baseline.same_as_target:
            # The target itself: the binary built at the build params' defaults.
            binary = self.cache.ensure(self.spec.build_defaults()).binary
            config_path = trial_dir / f"baseline-{Path(self.spec.target.config_path).name}"
        else:
            assert self.baseline_binary is not None
            binary, config_path = self.baseline_binary, trial_dir / "baseline.conf"
        launch = baseline_launch(baseline, port=port, config_path=str(config_path))
        if launch.config is not None:
            try:
                write_config(launch.config, config_path, launch.config_format)
            except ConfigFileError as exc:
                raise TrialFailure(f"cannot write the baseline's config file: {exc}") from None
        argv = [str(binary), *launch.args]
        timeout = self.spec.target.ready_timeout_s
        process = self._start("baseline", argv, launch.env, baseline.cpus, trial_dir, timeout, port)
        return process.endpoint, process

    def _start(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        cpus: str,
        trial_dir: Path,
        timeout_s: float,
        port: int,
    ) -> Any:
        from benchmark.server_process import ServerProcess

        server = ServerProcess(
            argv,
            name=name,
            port=port,
            cpus=cpus,
            env=env,
            cwd=trial_dir,
            ready_timeout=timeout_s,
            log_path=trial_dir / f"{name}.log",
        )
        self._servers.append(server)
        try:
            server.start()
        except ServerStartError as exc:
            raise TrialFailure(f"{name} did not start: {exc.message}", exc.log_tail) from None
        finally:
            if server.pid is not None:
                self.pidfile.add(server.pid)
        return server

    def _stop_all(self) -> None:
        while self._servers:
            server = self._servers.pop()
            with contextlib.suppress(Exception):
                server.stop()
            if server.pid is not None:
                self.pidfile.remove(server.pid)


def resolve_redis_binary(name: str, base_dir: Path | None = None) -> Path:
    """A Redis 8 tool by path (relative to ``base_dir``, the spec's directory), or a bare
    name from REDIS8_BIN_DIR / the CI cache / PATH."""
    from benchmark.redis8 import find_redis8_bin_dir

    if os.sep in name:
        path = Path(name)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise TrialFailure(f"baseline/client binary {path} does not exist")
        return path
    directory = find_redis8_bin_dir()
    if directory is not None and (directory / name).is_file():
        return directory / name
    found = shutil.which(name)
    if found is None:
        raise TrialFailure(
            f"{name}: no Redis 8 found (set REDIS8_BIN_DIR or run `bash .ci/install redis8`)"
        )
    return Path(found)


def _measurement(
    result: Any, timings: dict[str, float], build_tag: str, memory: Any = None
) -> Measurement:
    # No latency figures (p99_ratio None) is NaN: a Pareto study then fails the trial.
    p99 = math.nan if result.p99_ratio is None else float(result.p99_ratio)
    return Measurement(
        fitness=result.fitness,
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        p99_ratio=p99,
        per_test=dict(result.per_test_ratios()),
        per_test_ci=result.per_test_cis(),
        repetitions=result.repetitions,
        stop_reason=result.stop_reason,
        dropped_repetitions=result.dropped_repetitions,
        timings=timings,
        build_tag=build_tag,
        memory=memory,
        detail={
            "runner": "local",
            **result.to_dict(),
            **({"memory": memory.to_dict()} if memory is not None else {}),
        },
    )
