"""``sciml_nn.core.checks``: the shared argument check."""

from __future__ import annotations

import numpy as np
import pytest

from sciml_nn.core.checks import (
    check_array,
    check_callable,
    check_choice,
    check_float,
    check_int,
    check_same_shape,
)


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


def test_check_float_accepts_the_interval_and_names_it():
    assert check_float("eta", 0.5, 0.0, 1.0, low_open=True) == 0.5
    assert check_float("eta", 1, 0.0, 1.0) == 1.0
    with pytest.raises(ValueError, match=r"eta must lie in \(0.0, 1.0\]; got 0.0"):
        check_float("eta", 0.0, 0.0, 1.0, low_open=True)
    with pytest.raises(ValueError, match=r"beta must lie in \[0.0, 1.0\); got 1.0"):
        check_float("beta", 1.0, 0.0, 1.0, high_open=True)
    with pytest.raises(ValueError, match="eta must be finite; got nan"):
        check_float("eta", float("nan"))
    with pytest.raises(ValueError, match="T must be a finite number > 0.0; got 0"):
        check_float("T", 0, 0.0, low_open=True)
    with pytest.raises(ValueError, match="p must be a finite number <= 1.0; got 2"):
        check_float("p", 2, high=1.0)
    with pytest.raises(TypeError, match="eta must be a float; got bool"):
        check_float("eta", True)
    with pytest.raises(TypeError, match="eta must be a float; got str"):
        check_float("eta", "0.1")


def test_check_callable():
    assert check_callable("f", abs) is abs
    with pytest.raises(TypeError, match="f must be callable; got int"):
        check_callable("f", 3)


def test_check_array_shapes_dtypes_and_finiteness():
    x = check_array("x", [[1, 2], [3, 4], [5, 6]], shape=(None, 2))
    assert x.dtype == np.float64 and x.shape == (3, 2)
    assert check_array("k", [1, 2], shape=("n",), dtype=np.int64).dtype == np.int64
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\); got \(5, 3\)"):
        check_array("x", np.zeros((5, 3)), shape=(None, 2))
    with pytest.raises(ValueError, match=r"v must have shape \(n,\); got \(2, 2\)"):
        check_array("v", np.zeros((2, 2)), shape=(None,))
    with pytest.raises(ValueError, match="y must be finite"):
        check_array("y", [1.0, np.inf])
    assert np.isnan(check_array("y", [np.nan], finite=False)[0])
    with pytest.raises(TypeError, match="x must be an array of float64; got str"):
        check_array("x", "abc")


def test_check_same_shape_of_arrays_and_tensors():
    import tensorflow as tf

    check_same_shape("a", np.zeros((2, 3)), "b", tf.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"f\(u0\) must have the shape of u0, \(3,\); got \(2,\)"):
        check_same_shape("f(u0)", tf.zeros(2), "u0", np.zeros(3))
    with pytest.raises(ValueError, match=r"must have the shape of b, \(2, 3\); got \(6,\)"):
        check_same_shape("a", np.zeros(6), "b", np.zeros((2, 3)))

    @tf.function(input_signature=[tf.TensorSpec([None, 3])])
    def traced(x):  # the batch size is unknown while tracing: it matches any
        check_same_shape("x", x, "y", tf.zeros((5, 3)))
        return x

    assert traced(tf.zeros((5, 3))).shape == (5, 3)
