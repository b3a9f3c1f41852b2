"""The repository stands alone: `.ci/install` provides what it needs, nothing refers outside it.

A user clones this repository and nothing else, so no tracked file may point at a sibling
directory of this workplace, and every image a Dockerfile or the compose file uses must be one
that `.ci/install images` provides (pulled, or built as an offline stand-in).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / ".ci" / "install"
#: Paths of this workplace outside the repository (split so this file does not match itself).
OUTSIDE = ("../" + "shared", "/work/" + "shared")

pytestmark = pytest.mark.timeout(60)


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=30
    ).stdout
    return [REPO / name for name in out.decode().split("\0") if name]


def install(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL), *args],
        capture_output=True, text=True, timeout=30, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_no_tracked_file_refers_outside_the_repository() -> None:
    hits = []
    for path in tracked_files():
        if not path.is_file():
            continue
        text = path.read_bytes().decode(errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if any(outside in line for outside in OUTSIDE):
                hits.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert hits == []


def used_images() -> set[str]:
    """Every image a tracked Dockerfile builds FROM or the compose file runs, minus our own."""
    images: set[str] = set()
    for path in tracked_files():
        if path.name.startswith("Dockerfile") and path.suffix != ".dockerignore":
            stages: set[str] = set()
            for m in re.finditer(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", path.read_text(), re.M | re.I):
                if m[1] not in stages:
                    images.add(m[1])
                if m[2]:
                    stages.add(m[2])
    compose = (REPO / "docker-compose.yml").read_text()
    images |= {m.strip("\"'") for m in re.findall(r"^\s+image:\s*(\S+)", compose, re.M)}
    return {i for i in images if not i.strip("\"'").startswith("redisevolve/")}


def test_the_installer_provides_every_image_the_repository_uses() -> None:
    provided = set(install("image-tags").stdout.split())
    used = used_images()
    assert {"rust:1-slim-bookworm", "debian:bookworm-slim", "redis:8.0", "postgres:15"} <= used
    assert used <= provided, f"not provided by .ci/install images: {sorted(used - provided)}"


def test_mode_prints_the_recorded_image_mode(tmp_path: Path) -> None:
    env = {"REDISEVOLVE_CACHE": str(tmp_path)}
    missing = install("mode", env=env)
    assert missing.returncode == 1 and "run .ci/install images" in missing.stderr
    (tmp_path / "images.mode").write_text("offline\n# recorded by .ci/install images\n")
    assert install("mode", env=env).stdout == "offline\n"


def test_an_unknown_subcommand_prints_the_usage() -> None:
    proc = install("nonsense")
    assert proc.returncode == 2
    for sub in ("packages", "redis8", "docker", "images", "postgres", "chromium", "all"):
        assert f".ci/install {sub}" in proc.stderr
