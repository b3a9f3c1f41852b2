"""Study specs: the TOML file that says what to build, run, vary and measure.

A spec is parsed and validated completely before anything runs; every problem raises
:class:`SpecError` whose message starts with the offending field (``param[2].high: ...``).
Paths in a spec resolve relative to the spec file's directory. The embedded default spec
(``tuner/default_spec.toml``, identical to ``studies/redis-throughput.toml``) resolves as
if it were ``<repo>/studies/redis-throughput.toml``, where ``<repo>`` is the nearest
ancestor of the working directory holding ``pyproject.toml`` and ``studies/`` (else cwd).
"""

from tuner.spec._delivery import placeholders
from tuner.spec._errors import SpecError
from tuner.spec._load import (
    default_spec_text,
    find_repo_root,
    load_spec,
    parse_spec,
    parse_spec_text,
)
from tuner.spec._model import (
    CONFIG_FORMATS,
    DEFAULT_CONFIG_PATHS,
    DEFAULT_PARETO,
    DEFAULT_SPEC_NAME,
    MEMORY_OUTCOMES,
    OBJECTIVES,
    OUTCOME_NAMES,
    PARAM_KINDS,
    PARETO_OBJECTIVES,
    PRUNERS,
    STAGES,
    BaselineSpec,
    BudgetSpec,
    ClientSpec,
    ConstraintSpec,
    ObjectiveSpec,
    ParamSpec,
    SamplerSpec,
    StudySpec,
    TargetSpec,
    fitness_unit,
    stored_fitness_unit,
)
from tuner.spec._sections import parse_duration

__all__ = [
    "CONFIG_FORMATS",
    "DEFAULT_CONFIG_PATHS",
    "DEFAULT_PARETO",
    "DEFAULT_SPEC_NAME",
    "MEMORY_OUTCOMES",
    "OBJECTIVES",
    "OUTCOME_NAMES",
    "PARAM_KINDS",
    "PARETO_OBJECTIVES",
    "PRUNERS",
    "STAGES",
    "BaselineSpec",
    "BudgetSpec",
    "ClientSpec",
    "ConstraintSpec",
    "ObjectiveSpec",
    "ParamSpec",
    "SamplerSpec",
    "SpecError",
    "StudySpec",
    "TargetSpec",
    "default_spec_text",
    "find_repo_root",
    "fitness_unit",
    "load_spec",
    "parse_duration",
    "parse_spec",
    "parse_spec_text",
    "placeholders",
    "stored_fitness_unit",
]
