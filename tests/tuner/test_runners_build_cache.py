"""BuildCache: one real build per set of build params, runtime changes never rebuild."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tuner.runners.base import TrialFailure
from tuner.runners.build_cache import BuildCache, TemplateError, render_template

REPO = Path(__file__).resolve().parents[2]
SERVER_DIR = REPO / "server"

# A tiny "project": the build script writes an executable that prints its build params
# and counts how often it really ran.
BUILD_SCRIPT = """#!/bin/bash
set -e
echo "building flavour=$1 opt=$2"
mkdir -p out; echo x >> out/builds.count
mkdir -p out/$2
printf '#!/bin/sh\\necho flavour=%s opt=%s\\n' "$1" "$2" > out/$2/app
chmod +x out/$2/app
"""


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "build.sh").write_text(BUILD_SCRIPT)
    (project / "src.txt").write_text("v1\n")
    return project


def _cache(tmp_path: Path, project: Path) -> BuildCache:
    return BuildCache(
        tmp_path / "cache",
        workdir=project,
        command=["bash", "build.sh", "{build.flavour}", "{build.opt}"],
        binary="out/{build.opt}/app",
    )


def _builds(project: Path) -> int:
    counter = project / "out" / "builds.count"
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def test_same_build_params_build_once_other_params_build_again(tmp_path: Path) -> None:
    project = _project(tmp_path)
    cache = _cache(tmp_path, project)
    a = {"build.flavour": "jemalloc", "build.opt": "lto"}
    first = cache.ensure(a)
    assert not first.cached and _builds(project) == 1
    out = subprocess.run([first.binary], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "flavour=jemalloc opt=lto"
    assert first.binary.parent == tmp_path / "cache" / first.tag
    assert (first.binary.parent / "build.log").read_text().count("building flavour=jemalloc") == 1

    # The same build params again (a runtime-only change in the study) never rebuild,
    # even from a fresh BuildCache (a resumed study).
    again = _cache(tmp_path, project).ensure(dict(a))
    assert again.cached and again.tag == first.tag and _builds(project) == 1

    b = {"build.flavour": "mimalloc", "build.opt": "lto"}
    second = cache.ensure(b)
    assert not second.cached and second.tag != first.tag and _builds(project) == 2
    # Both binaries are kept per tag, although the project's output path is shared.
    assert subprocess.run([first.binary], capture_output=True, text=True).stdout.strip() == (
        "flavour=jemalloc opt=lto"
    )
    assert subprocess.run([second.binary], capture_output=True, text=True).stdout.strip() == (
        "flavour=mimalloc opt=lto"
    )


def test_source_change_rebuilds(tmp_path: Path) -> None:
    project = _project(tmp_path)
    cache = _cache(tmp_path, project)
    params = {"build.flavour": "system", "build.opt": "release"}
    first = cache.ensure(params)
    (project / "src.txt").write_text("v2, edited\n")
    second = cache.ensure(params)
    assert second.tag != first.tag and not second.cached and _builds(project) == 2


def test_build_failure_reports_the_log_tail(tmp_path: Path) -> None:
    project = _project(tmp_path)
    cache = BuildCache(
        tmp_path / "cache",
        workdir=project,
        command=["bash", "-c", "echo 'error[E0425]: cannot find value `x`' >&2; exit 101"],
        binary="out/app",
    )
    with pytest.raises(TrialFailure) as failure:
        cache.ensure({})
    assert "build failed (exit 101)" in failure.value.reason
    assert "error[E0425]" in failure.value.log_tail
    missing = BuildCache(tmp_path / "cache2", workdir=project, command=["true"], binary="nothing")
    with pytest.raises(TrialFailure, match="produced no binary"):
        missing.ensure({})


def test_build_timeout_kills_the_build(tmp_path: Path) -> None:
    project = _project(tmp_path)
    marker = project / "still-running"
    cache = BuildCache(
        tmp_path / "cache",
        workdir=project,
        command=["bash", "-c", f"(sleep 3; touch {marker}) & wait"],
        binary="out/app",
        timeout_s=0.5,
    )
    start = time.monotonic()
    with pytest.raises(TrialFailure, match="timed out"):
        cache.ensure({})
    assert time.monotonic() - start < 3
    time.sleep(3.5)
    assert not marker.exists()  # the whole process group died


def test_templates() -> None:
    assert render_template("a {x} {b.c} {{lit}}", {"x": 1, "b.c": "y"}) == "a 1 y {lit}"
    with pytest.raises(TemplateError, match=r"no value for \{build.profile\}"):
        render_template("cargo build --profile {build.profile}", {})


@pytest.mark.slow
@pytest.mark.integration
def test_real_cargo_server_runtime_change_never_rebuilds(tmp_path: Path) -> None:
    if shutil.which("cargo") is None or not (SERVER_DIR / "Cargo.toml").exists():
        if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
            pytest.fail("cargo or server/Cargo.toml missing and REQUIRE_REAL_SERVERS=1")
        pytest.skip("cargo or server/ not available")
    # A snapshot of the sources: others may be editing server/ while this runs, and an
    # edit rightly changes the tag.
    workdir = tmp_path / "server"
    shutil.copytree(SERVER_DIR, workdir, ignore=shutil.ignore_patterns("target", ".*"))
    cache = BuildCache(
        tmp_path / "cache",
        workdir=workdir,
        command=["cargo", "build", "--locked", "--profile", "{build.profile}"],
        binary="target/{build.profile}/redis-server-optimized",
        choice_args={
            "build.allocator": {"system": [], "jemalloc": ["--features", "alloc-jemalloc"]}
        },
    )
    params = {"build.profile": "release", "build.allocator": "system"}
    first = cache.ensure(params)
    assert first.binary.is_file() and os.access(first.binary, os.X_OK)
    (workdir / "src" / "main.rs").touch()  # touched, not changed: still cached
    # What a runtime-only change asks the cache for: the same build params.
    assert cache.ensure(dict(params)).cached
    assert cache.builds == 1
    jemalloc = cache.ensure({"build.profile": "release", "build.allocator": "jemalloc"})
    assert not jemalloc.cached and jemalloc.tag != first.tag and cache.builds == 2
    assert first.binary.read_bytes() != jemalloc.binary.read_bytes()


def test_choice_args_and_value_env(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "build.sh").write_text(
        "#!/bin/bash\nmkdir -p out\n"
        'printf "#!/bin/sh\\necho %s %s\\n" "$*" "$OPT_LEVEL" > out/app\n'
        "chmod +x out/app\n"
    )
    cache = BuildCache(
        tmp_path / "cache",
        workdir=project,
        command=["bash", "build.sh", "--profile", "{build.profile}"],
        binary="out/app",
        choice_args={
            "build.allocator": {"system": [], "jemalloc": ["--features", "alloc-jemalloc"]}
        },
        value_env={"build.opt": "OPT_LEVEL"},
    )
    build = {"build.profile": "release-lto", "build.allocator": "jemalloc", "build.opt": "3"}
    assert cache.argv(build) == [
        "bash", "build.sh", "--profile", "release-lto", "--features", "alloc-jemalloc",
    ]  # fmt: skip
    out = subprocess.run([cache.ensure(build).binary], capture_output=True, text=True).stdout
    assert out.split() == ["--profile", "release-lto", "--features", "alloc-jemalloc", "3"]
    with pytest.raises(TemplateError, match="no build args for this choice"):
        cache.argv({**build, "build.allocator": "tcmalloc"})


def test_for_spec_uses_the_shipped_spec_target() -> None:
    from tuner.spec import load_spec

    spec = load_spec(REPO / "studies" / "redis-throughput.toml")
    cache = BuildCache.for_spec(spec, Path("/nonexistent"))
    argv = cache.argv({"build.allocator": "mimalloc"})
    assert argv[:2] == ["cargo", "build"]
    assert "--release" in argv and argv[-2:] == ["--features", "alloc-mimalloc"]
    assert cache.workdir == SERVER_DIR
    # The knob sweep still searches the cargo profile: it fills the template.
    sweep = BuildCache.for_spec(load_spec(REPO / "studies" / "knob-sweep.toml"), Path("/x"))
    argv = sweep.argv({"build.profile": "release-lto", "build.allocator": "mimalloc"})
    assert "release-lto" in argv and argv[-2:] == ["--features", "alloc-mimalloc"]
