"""The paired protocol's bookkeeping, driven by a scripted client with known rates.

These tests check ordering, FLUSHALL/prefill, stop rules, callbacks and aborts; the
real-server A/A and A/B tests (test_paired_real.py) check the measurement itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pytest

from benchmark.client import ToolRun
from benchmark.endpoint import Endpoint
from benchmark.errors import BenchmarkError
from benchmark.paired import PairedRun
from benchmark.result import RepetitionUpdate
from benchmark.stats import min_repetitions_for
from benchmark.workload import Workload

HEADER = ",".join(
    f'"{c}"'
    for c in ["test", "rps"]
    + [f"{k}_latency_ms" for k in ("avg", "min", "p50", "p95", "p99", "max")]
)

CAND = Endpoint("cand", "127.0.0.1", 1001)
BASE = Endpoint("base", "127.0.0.1", 1002)


class ScriptedClient:
    """Replies like redis-benchmark/redis-cli would, with rps = rate[server] x noise."""

    def __init__(self, rate: dict[str, float], noise: float = 0.0, seed: int = 0) -> None:
        self.rate = rate
        self.noise = noise
        self.rng = np.random.default_rng(seed)
        self.calls: list[tuple[str, str, tuple[str, ...]]] = []
        self.fail_on: str | None = None
        self.stdin: list[tuple[int, bytes]] = []

    def benchmark(self, endpoint: Endpoint, args: Sequence[str], *, timeout: float) -> ToolRun:
        self.calls.append(("bench", endpoint.name, tuple(args)))
        test = args[args.index("-t") + 1]
        if self.fail_on == endpoint.name:
            return ToolRun(
                ("redis-benchmark",), 1, HEADER + "\n", "Error: Server closed the connection", 0.1
            )
        rps = self.rate[endpoint.name] * float(np.exp(self.rng.normal(0, self.noise)))
        p99 = 1.0 / rps * 1e5
        line = f'"{test.upper()}","{rps:.2f}","0.3","0.1","0.2","0.5","{p99:.3f}","1.0"'
        return ToolRun(("redis-benchmark",), 0, f"{HEADER}\n{line}\n", "", 0.1)

    def cli(
        self,
        endpoint: Endpoint,
        args: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
    ) -> ToolRun:
        self.calls.append(("cli", endpoint.name, tuple(args)))
        self.stdin.append((len(self.calls) - 1, stdin or b""))
        out = {"FLUSHALL": "OK", "--pipe": "All data transferred.\nerrors: 0, replies: 3\n"}
        if args[0] == "INFO":
            text = "# Server\r\nredis_version:8.0.2\r\n" if args[1] == "server" else ""
            return ToolRun(("redis-cli",), 0, text, "", 0.01)
        return ToolRun(("redis-cli",), 0, out.get(args[0], "7") + "\n", "", 0.01)

    def pipeline(
        self, endpoint: Endpoint, commands: Iterable[Sequence[str]], *, timeout: float = 120.0
    ) -> int:
        sent = [list(c) for c in commands]
        self.calls.append(("pipeline", endpoint.name, tuple(c[0] for c in sent)))
        return len(sent)


def small(**kw: object) -> Workload:
    base: dict[str, object] = {
        "tests": ("set", "get"),
        "pipelines": (1, 16),
        "requests": 2000,
        "duration_s": None,
        "keyspace": 10,
    }
    base.update(kw)
    return Workload.from_dict(base)


def test_known_rates_give_known_fitness_and_every_run_is_kept() -> None:
    client = ScriptedClient({"cand": 80_000.0, "base": 100_000.0})
    result = PairedRun(
        CAND, BASE, small(min_repetitions=3, max_repetitions=3), client, seed=1
    ).run()
    assert result.fitness == pytest.approx(80.0)
    assert result.ci_low == pytest.approx(80.0) and result.ci_high == pytest.approx(80.0)
    # Three pairs cannot carry a 95% CI of a median (see min_repetitions_for): no ci_target.
    assert result.stop_reason == "max_repetitions" and result.repetitions == 3
    assert result.p99_ratio == pytest.approx(100_000 / 80_000)
    assert set(result.per_test) == {"SET@P1", "GET@P1", "SET@P16", "GET@P16"}
    assert result.per_test["GET@P16"].ratios == pytest.approx((0.8, 0.8, 0.8))
    assert result.baseline_version == "redis 8.0.2"
    # 4 units x 2 servers: one warm-up each, then 3 measured repetitions.
    assert len([r for r in result.runs if r.phase == "warmup"]) == 8
    assert len([r for r in result.runs if r.phase == "measure"]) == 24
    assert result.to_dict()["runs"][0]["rps"] > 0


def test_every_run_starts_from_flushall_and_reads_are_prefilled() -> None:
    client = ScriptedClient({"cand": 1.0e5, "base": 1.0e5})
    PairedRun(CAND, BASE, small(min_repetitions=2, max_repetitions=2), client, seed=2).run()
    for i, (kind, server, args) in enumerate(client.calls):
        if kind != "bench":
            continue
        before = [j for j, c in enumerate(client.calls[:i]) if c[1] == server and c[0] != "bench"]
        test = args[args.index("-t") + 1]
        kind, _, sent = client.calls[before[-1]]
        assert kind == "pipeline" and sent[0] == "FLUSHALL"
        assert ("MSET" in sent) == (test == "get")


def test_order_within_pairs_is_randomised_but_pairs_stay_adjacent() -> None:
    client = ScriptedClient({"cand": 1.0e5, "base": 1.0e5})
    PairedRun(CAND, BASE, small(min_repetitions=12, max_repetitions=12), client, seed=3).run()
    benches = [
        (c[1], c[2][c[2].index("-t") + 1], c[2][c[2].index("-P") + 1])
        for c in client.calls
        if c[0] == "bench"
    ]
    firsts = []
    for a, b in zip(benches[::2], benches[1::2], strict=True):
        assert a[1:] == b[1:] and a[0] != b[0]  # the two runs of one unit are back to back
        firsts.append(a[0])
    assert 0.3 < firsts.count("cand") / len(firsts) < 0.7


def test_adaptive_stop_at_ci_target_or_max() -> None:
    noisy = ScriptedClient({"cand": 1.0e5, "base": 1.0e5}, noise=0.1, seed=4)
    result = PairedRun(
        CAND, BASE, small(min_repetitions=3, max_repetitions=6, target_ci_pct=0.1), noisy, seed=4
    ).run()
    assert result.stop_reason == "max_repetitions" and result.repetitions == 6
    quiet = ScriptedClient({"cand": 1.0e5, "base": 1.0e5}, noise=0.001, seed=5)
    result = PairedRun(
        CAND, BASE, small(min_repetitions=3, max_repetitions=30, target_ci_pct=2.0), quiet, seed=5
    ).run()
    # Tight from the third pair on, but the stop waits for 6 pairs at 95% confidence.
    assert result.stop_reason == "ci_target" and result.repetitions == 6
    assert result.half_width_pct <= 2.0


def test_the_ci_stop_waits_for_enough_pairs_to_cover_the_median() -> None:
    # [min, max] of n pairs covers the median with probability 1 - 2 * 0.5**n.
    assert [min_repetitions_for(c) for c in (0.9, 0.95, 0.99, 0.999)] == [5, 6, 8, 11]
    for n, confidence in ((6, 0.95), (11, 0.999)):
        assert 1 - 2 * 0.5**n >= confidence > 1 - 2 * 0.5 ** (n - 1)
    quiet = ScriptedClient({"cand": 1.0e5, "base": 1.0e5}, noise=0.001, seed=6)
    w = small(min_repetitions=2, max_repetitions=30, target_ci_pct=2.0, confidence=0.999)
    result = PairedRun(CAND, BASE, w, quiet, seed=6).run()
    assert result.stop_reason == "ci_target" and result.repetitions == 11


def test_max_repetitions_override_wins_over_the_workload() -> None:
    client = ScriptedClient({"cand": 1.0e5, "base": 1.0e5}, noise=0.1)
    w = small(min_repetitions=5, max_repetitions=8, target_ci_pct=0.01)
    assert PairedRun(CAND, BASE, w, client, max_repetitions=11).run().repetitions == 11
    assert PairedRun(CAND, BASE, w, client, max_repetitions=2).run().repetitions == 2


def test_on_repetition_reports_running_fitness_and_can_abort() -> None:
    updates: list[RepetitionUpdate] = []

    class Pruned(Exception):
        pass

    def prune_at_three(u: RepetitionUpdate) -> None:
        updates.append(u)
        if u.repetition == 3:
            raise Pruned

    client = ScriptedClient({"cand": 5.0e4, "base": 1.0e5}, noise=0.05)
    with pytest.raises(Pruned):
        PairedRun(
            CAND, BASE, small(max_repetitions=10), client, on_repetition=prune_at_three, seed=3
        ).run()
    assert [u.repetition for u in updates] == [1, 2, 3]
    assert np.isnan(updates[0].ci_low) and updates[0].half_width_pct == float("inf")
    assert updates[2].ci_low <= updates[2].fitness <= updates[2].ci_high
    assert 40 < updates[2].fitness < 60 and set(updates[2].per_test) == {
        "SET@P1",
        "GET@P1",
        "SET@P16",
        "GET@P16",
    }


def test_time_budget_stops_between_repetitions() -> None:
    client = ScriptedClient({"cand": 1.0e5, "base": 1.0e5}, noise=0.1)
    w = small(min_repetitions=5, max_repetitions=50, target_ci_pct=0.01)
    result = PairedRun(CAND, BASE, w, client, max_seconds=0.0).run()
    assert result.stop_reason == "time_budget" and result.repetitions == 1


def test_weights_from_the_workload_shape_fitness() -> None:
    class PerTest(ScriptedClient):
        def benchmark(self, endpoint: Endpoint, args: Sequence[str], *, timeout: float) -> ToolRun:
            run = super().benchmark(endpoint, args, timeout=timeout)
            if endpoint.name == "cand" and args[args.index("-t") + 1] == "get":
                return ToolRun(
                    run.argv,
                    0,
                    run.stdout.replace('"GET","100000.00"', '"GET","50000.00"'),
                    "",
                    0.1,
                )
            return run

    w = small(pipelines=(1,), min_repetitions=2, max_repetitions=2, weights={"GET@P1": 3.0})
    result = PairedRun(CAND, BASE, w, PerTest({"cand": 1.0e5, "base": 1.0e5})).run()
    assert result.fitness == pytest.approx(100 * 0.5 ** (3 / 4))


def test_a_failed_run_raises_with_stderr() -> None:
    client = ScriptedClient({"cand": 1.0e5, "base": 1.0e5})
    client.fail_on = "cand"
    with pytest.raises(BenchmarkError, match="Server closed the connection"):
        PairedRun(CAND, BASE, small(), client).run()


def test_duration_is_calibrated_from_the_warmup() -> None:
    client = ScriptedClient({"cand": 40_000.0, "base": 40_000.0})
    w = Workload(
        tests=("set",), pipelines=(1,), duration_s=0.5, min_repetitions=2, max_repetitions=2
    )
    result = PairedRun(CAND, BASE, w, client).run()
    measured = [r for r in result.runs if r.phase == "measure"]
    assert {r.requests for r in measured} == {20_000}


def test_rps_cv_is_each_servers_run_to_run_spread() -> None:
    steady = PairedRun(
        CAND, BASE, small(min_repetitions=3, max_repetitions=3), ScriptedClient(
            {"cand": 80_000.0, "base": 100_000.0}
        ), seed=1,
    ).run()  # fmt: skip
    assert all(
        cv == pytest.approx(0.0) for unit in steady.rps_cv().values() for cv in unit.values()
    )
    noisy = PairedRun(
        CAND, BASE, small(min_repetitions=20, max_repetitions=20), ScriptedClient(
            {"cand": 80_000.0, "base": 100_000.0}, noise=0.1, seed=3
        ), seed=1,
    ).run()  # fmt: skip
    cvs = noisy.rps_cv()
    assert set(cvs) == set(noisy.per_test)
    # Log-normal noise of sd 0.1 is a CV of about 10%; 20 draws put it within 0.04-0.2.
    assert all(0.04 < cv < 0.2 for unit in cvs.values() for cv in unit.values()), cvs


@pytest.mark.parametrize(
    ("rate", "warmup"),
    [
        # 2,500 requests a second (LRANGE_100 of 4 KiB at P=16): a quarter-second warm-up,
        # not the 160,000 requests (a minute) of the fixed probe.
        (2_500.0, 1_000),
        (20_000.0, 5_000),
        # Fast enough that the old fixed probe (10,000 per pipeline depth) is the shorter.
        (2_000_000.0, 160_000),
    ],
)
def test_the_warmup_is_sized_by_a_scout_run(rate: float, warmup: int) -> None:
    client = ScriptedClient({"cand": rate, "base": rate})
    workload = Workload.from_dict(
        {"tests": ("lrange_100",), "pipelines": (16,), "duration_s": 0.5, "keyspace": 10}
        | {"min_repetitions": 2, "max_repetitions": 2}
    )
    result = PairedRun(CAND, BASE, workload, client, seed=1).run()
    scouts = [r for r in result.runs if r.phase == "scout"]
    warmups = [r for r in result.runs if r.phase == "warmup"]
    # One scout (the baseline, 10 pipelines a client), then each server's warm-up.
    assert [(r.server, r.requests) for r in scouts] == [("base", 50 * 16 * 10)]
    assert sorted(r.requests for r in warmups) == [warmup, warmup]
    # The measured run lasts duration_s at the warm-up's rate.
    measured = [r.requests for r in result.runs if r.phase == "measure"]
    assert measured == [max(1000, round(rate * 0.5))] * 4
