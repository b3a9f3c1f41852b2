"""The one error a spec raises."""

from __future__ import annotations

__all__ = ["SpecError"]


class SpecError(ValueError):
    """A spec that cannot be used; the message names the field first."""
