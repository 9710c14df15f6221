"""Argument checks shared by the package's public functions.

Part of the shared core. A wrong type raises ``TypeError``, a wrong value
``ValueError``, and both say what was expected and what arrived, so that a
function shown on a page checks its arguments in one line each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def check_float(
    name: str,
    value: object,
    low: float = -np.inf,
    high: float = np.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a ``float`` if it is a finite real number (not a
    bool) in the interval from ``low`` to ``high``, each end closed unless
    ``low_open`` or ``high_open``."""
    if isinstance(value, bool) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{name} must be a float; got {type(value).__name__}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if not np.isfinite(value) or too_low or too_high:
        if np.isinf(high) and np.isinf(low):
            expected = "be finite"
        elif np.isinf(high):
            relation = ">" if low_open else ">="
            expected = f"be a finite number {relation} {low}"
        elif np.isinf(low):
            relation = "<" if high_open else "<="
            expected = f"be a finite number {relation} {high}"
        else:
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            expected = f"lie in {left}{low}, {high}{right}"
        raise ValueError(f"{name} must {expected}; got {value}")
    return float(value)


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of the strings ``choices``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str; got {type(value).__name__}")
    if value not in choices:
        raise ValueError(
            f"{name} must be one of {tuple(choices)}; got {value!r}"
        )
    return value


def check_callable(name: str, value: object) -> Callable:
    """Return ``value`` if it can be called."""
    if not callable(value):
        raise TypeError(f"{name} must be callable; got {type(value).__name__}")
    return value


def check_same_shape(
    name: str, value: object, like_name: str, like: object
) -> None:
    """``ValueError`` unless the array or tensor ``value`` has the shape of
    ``like``; a dimension unknown while TensorFlow traces a graph (``None``)
    matches any length."""
    shape, expected = tuple(np.shape(value)), tuple(np.shape(like))
    if hasattr(value, "shape") and not isinstance(value, np.ndarray):
        shape = tuple(value.shape)
    if hasattr(like, "shape") and not isinstance(like, np.ndarray):
        expected = tuple(like.shape)
    if len(shape) != len(expected) or any(
        a is not None and b is not None and a != b
        for a, b in zip(shape, expected)
    ):
        raise ValueError(
            f"{name} must have the shape of {like_name}, {expected}; "
            f"got {shape}"
        )


def _shape_text(shape: Sequence[int | str | None]) -> str:
    names = iter("nmkpqr")
    parts = [
        str(s) if isinstance(s, int) else (s or next(names)) for s in shape
    ]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def check_array(
    name: str,
    value: object,
    shape: Sequence[int | str | None] | None = None,
    dtype: type | str = np.float64,
    finite: bool = True,
) -> np.ndarray:
    """Return ``value`` as a NumPy array of ``dtype`` after checking it.

    ``shape`` lists one entry per axis: an int fixes that axis' length,
    ``None`` or a name (``"n"``) leaves it free; ``(None, 2)`` asks for any
    number of rows of two columns. With ``finite`` every entry must be finite.
    """
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be an array of {np.dtype(dtype).name}; got "
            f"{type(value).__name__}"
        ) from error
    if shape is not None and (
        array.ndim != len(shape)
        or any(
            isinstance(s, int) and a != s for a, s in zip(array.shape, shape)
        )
    ):
        raise ValueError(
            f"{name} must have shape {_shape_text(shape)}; got {array.shape}"
        )
    if finite and array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite; got NaN or inf entries")
    return array
