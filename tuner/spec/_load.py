"""Loading: a spec file, TOML text or a mapping becomes a validated StudySpec."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from tuner.spec._constraints import parse_constraints
from tuner.spec._dataset import parse_datasets
from tuner.spec._errors import SpecError
from tuner.spec._fields import only_keys, plain, section, str_field
from tuner.spec._model import (
    MEMORY_OUTCOMES,
    PARETO_OBJECTIVES,
    ConstraintSpec,
    ObjectiveSpec,
    ParamSpec,
    StudySpec,
)
from tuner.spec._params import parse_params
from tuner.spec._sections import parse_budget, parse_objective, parse_sampler, parse_workload
from tuner.spec._target import parse_baseline, parse_client, parse_target

__all__ = [
    "default_spec_text",
    "find_repo_root",
    "load_spec",
    "parse_spec",
    "parse_spec_text",
]

_STUDY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def load_spec(path: str | Path | None = None) -> StudySpec:
    """Load and validate a spec file, or the embedded default when ``path`` is None."""
    if path is None:
        text = default_spec_text()
        base = find_repo_root(Path.cwd()) / "studies"
        return parse_spec_text(text, base_dir=base, source="<embedded redis-throughput>")
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise SpecError(f"spec file {file}: {exc.strerror or exc}") from None
    return parse_spec_text(text, base_dir=file.resolve().parent, source=str(file))


def default_spec_text() -> str:
    """The embedded default spec (same content as studies/redis-throughput.toml)."""
    return resources.files("tuner").joinpath("default_spec.toml").read_text()


def find_repo_root(start: Path) -> Path:
    """Nearest ancestor of ``start`` with pyproject.toml and studies/, else ``start``."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / "pyproject.toml").is_file() and (candidate / "studies").is_dir():
            return candidate
    return start


def parse_spec_text(text: str, *, base_dir: Path, source: str) -> StudySpec:
    """Parse TOML text into a validated spec (``extends`` resolved, see :func:`_extend`)."""
    data = _extend(_toml(text, source), base_dir, source, ())
    return parse_spec(data, base_dir=base_dir, source=source)


#: How deep ``extends`` may chain (a spec extending a spec extending ...).
MAX_EXTENDS_DEPTH = 4


def _toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source}: not valid TOML: {exc}") from None


def _extend(
    data: dict[str, Any], base_dir: Path, source: str, seen: tuple[Path, ...]
) -> dict[str, Any]:
    """``extends = "other.toml"``: start from that spec and replace each top-level section the
    file itself has (``[workload]`` with its datasets, all ``[[param]]``s, ...) wholesale.

    Sections are replaced, never merged key by key, so what a spec says about a section is
    all there is of it; the path is relative to the extending file's directory.
    """
    if "extends" not in data:
        return data
    ref = data["extends"]
    if not isinstance(ref, str) or not ref:
        raise SpecError(f"{source}: extends: must be the path of a spec file, got {ref!r}")
    path = (base_dir / ref).resolve()
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise SpecError(f"{source}: extends: a cycle ({chain})")
    if len(seen) >= MAX_EXTENDS_DEPTH:
        raise SpecError(f"{source}: extends: more than {MAX_EXTENDS_DEPTH} levels deep")
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"{source}: extends: {path}: {exc.strerror or exc}") from None
    if path.parent != base_dir.resolve():
        raise SpecError(
            f"{source}: extends: {ref} is in another directory; paths in a spec resolve from "
            "its own directory, so the spec it extends must sit beside it"
        )
    base = _extend(_toml(text, str(path)), path.parent, str(path), (*seen, path))
    own = {k: v for k, v in data.items() if k != "extends"}
    return {**base, **own}


def parse_spec(data: Mapping[str, Any], *, base_dir: Path, source: str = "<dict>") -> StudySpec:
    """Validate a spec mapping; raises SpecError naming the first bad field."""
    only_keys(
        data,
        "",
        {
            "study",
            "target",
            "baseline",
            "client",
            "param",
            "constraint",
            "workload",
            "objective",
            "budget",
            "sampler",
        },
    )
    study = section(data, "study")
    only_keys(study, "study", {"name", "description"})
    name = str_field(study, "study.name", required=True)
    assert name is not None
    if not _STUDY_NAME_RE.match(name):
        raise SpecError(f"study.name: {name!r} must be letters, digits, '_', '-', '.'")
    description = str_field(study, "study.description") or ""

    params = parse_params(data.get("param"))
    constraints = parse_constraints(data.get("constraint"), params)
    target = parse_target(section(data, "target"), base_dir, params)
    _check_cpu_bounds(params, target.cpus)
    workload = section(data, "workload")
    datasets = parse_datasets(workload)
    objective = parse_objective(section(data, "objective", required=False))
    _check_memory_needs_dataset(objective, constraints, datasets)
    return StudySpec(
        name=name,
        description=description,
        target=target,
        baseline=parse_baseline(section(data, "baseline"), target, params),
        client=parse_client(section(data, "client", required=False)),
        params=params,
        constraints=constraints,
        workload=parse_workload(workload),
        objective=objective,
        budget=parse_budget(section(data, "budget", required=False)),
        sampler=parse_sampler(section(data, "sampler", required=False)),
        base_dir=base_dir,
        source=source,
        raw=plain(dict(data)),
        datasets=datasets,
    )


def _check_memory_needs_dataset(
    objective: ObjectiveSpec, constraints: tuple[ConstraintSpec, ...], datasets: tuple[Any, ...]
) -> None:
    """Memory is measured on the workload's dataset: without one there is nothing to read."""
    if datasets:
        return
    how = (
        'add a dataset to load into both servers, e.g. [workload.dataset] kind = "hash", '
        "keys = 10000, fields = 20, value_size = 16"
    )
    for name in objective.objectives:
        if PARETO_OBJECTIVES[name][0] in MEMORY_OUTCOMES:
            raise SpecError(f"objective.pareto: {name!r} is measured on a dataset; {how}")
    for i, c in enumerate(constraints):
        named = [n for n in c.names if n in MEMORY_OUTCOMES]
        if named:
            raise SpecError(f"constraint[{i}].expr: {named[0]!r} is measured on a dataset; {how}")


def cpu_count(cpus: str) -> int:
    """How many CPUs a list like ``0``, ``0-1,3`` names."""
    chosen: set[int] = set()
    for part in cpus.split(","):
        low, _, high = part.partition("-")
        chosen.update(range(int(low), int(high or low) + 1))
    return len(chosen)


def _check_cpu_bounds(params: tuple[ParamSpec, ...], cpus: str) -> None:
    """A ``bounded_by_cpus`` param (a thread count) may not search beyond the server's CPUs.

    An error rather than a silent clamp: a clamp would change the search space with the
    machine, and a study resumed elsewhere would be refused or, worse, mix two spaces.
    """
    n = cpu_count(cpus)
    for i, p in enumerate(params):
        if p.bounded_by_cpus and p.high is not None and p.high > n:
            raise SpecError(
                f"param[{i}] ({p.name}).high: {p.high} is more than the {n} CPU(s) in "
                f"target.cpus = {cpus!r} (bounded_by_cpus = true); set high <= {n} or give "
                "the server more CPUs"
            )
