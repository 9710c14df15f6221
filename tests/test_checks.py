"""``sciml_nn.checks``: the shared argument check."""

from __future__ import annotations

import numpy as np
import pytest

from sciml_nn.checks import check_choice, check_int


def test_check_int_accepts_python_and_numpy_ints():
    assert check_int("n", 3) == 3
    value = check_int("n", np.int64(7), 1)
    assert value == 7 and type(value) is int
    assert check_int("warmup", 0, 0) == 0
    assert check_int("seed", -5) == -5  # no bound, no complaint


@pytest.mark.parametrize(
    ("value", "smallest", "error", "message"),
    [
        (2.0, None, TypeError, "n must be an int; got float"),
        (True, 1, TypeError, "n must be an int; got bool"),
        ("3", 1, TypeError, "n must be an int; got str"),
        (0, 1, ValueError, "n must be a positive int; got 0"),
        (3, 4, ValueError, "n must be >= 4; got 3"),
    ],
)
def test_check_int_rejects_with_a_message_naming_what_was_expected(value, smallest, error, message):
    with pytest.raises(error, match=message):
        check_int("n", value, smallest)


def test_check_choice():
    assert check_choice("mode", "graph", ("eager", "graph")) == "graph"
    with pytest.raises(ValueError, match=r"mode must be one of \('eager', 'graph'\); got 'jit'"):
        check_choice("mode", "jit", ("eager", "graph"))
    with pytest.raises(TypeError, match="mode must be a str; got int"):
        check_choice("mode", 3, ("eager", "graph"))
