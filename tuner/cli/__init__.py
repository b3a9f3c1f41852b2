"""The ``tuner`` command line: run, resume, inspect, finalize and export studies.

One module per command group registers its commands on the apps in ``_apps``; importing
the package registers them all, in this order (the order ``--help`` lists them).
``python -m tuner.cli`` and the ``tuner`` script run ``app``.
"""

from __future__ import annotations

import importlib

from tuner.cli._apps import app

__all__ = ["app"]

for _group in ("run", "show", "export", "views", "bench", "compare", "audit", "doctor"):
    importlib.import_module(f"tuner.cli.{_group}")
