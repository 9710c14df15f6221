"""Argument checks shared by the package's public functions: a wrong type
raises ``TypeError``, a wrong value ``ValueError``, and both say what was
expected and what arrived."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_int(name: str, value: object, smallest: int | None = None) -> int:
    """Return ``value`` as an ``int`` if it is an integer (not a bool) and at
    least ``smallest``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int; got {type(value).__name__}")
    if smallest is not None and value < smallest:
        expected = "a positive int" if smallest == 1 else f">= {smallest}"
        raise ValueError(f"{name} must be {expected}; got {value}")
    return int(value)


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of the strings ``choices``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str; got {type(value).__name__}")
    if value not in choices:
        raise ValueError(
            f"{name} must be one of {tuple(choices)}; got {value!r}"
        )
    return value
