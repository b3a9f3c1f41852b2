"""``python -m tuner.cli``."""

from tuner.cli import app

app()
