"""Tests of sciml_nn.core.data: sampling (against the moments of the uniform law), the 60/20/20
split and minibatches (by tracing every row), and the argument checks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.core.data import (
    check_xy,
    evaluate_target,
    fresh_test_points,
    make_dataset,
    minibatches,
    sample_unit_box,
    split_60_20_20,
    squared_norm,
)


def _with_row_ids(n: int) -> tuple[np.ndarray, np.ndarray]:
    """x whose first column is the row id, y = 10 * id, so every row can be traced."""
    ids = np.arange(n, dtype=np.float64)
    return np.column_stack([ids, -ids]), 10.0 * ids[:, None]


def test_sample_unit_box_shape_dtype_range_and_seed():
    x = sample_unit_box(5000, d=3, seed=4)
    assert x.shape == (5000, 3) and x.dtype == np.float32
    assert np.all((x >= 0.0) & (x <= 1.0))
    # Uniform on [0, 1]: mean 1/2 and variance 1/12 in each coordinate.
    np.testing.assert_allclose(x.mean(axis=0), 0.5, atol=0.02)
    np.testing.assert_allclose(x.var(axis=0), 1.0 / 12.0, atol=0.005)
    np.testing.assert_array_equal(x, sample_unit_box(5000, d=3, seed=4))
    assert not np.array_equal(x, sample_unit_box(5000, d=3, seed=5))


def test_squared_norm_closed_form():
    x = np.array([[3.0, 4.0], [1.0, -1.0], [0.0, 0.0]])
    np.testing.assert_array_equal(squared_norm(x), [[25.0], [2.0], [0.0]])
    x = sample_unit_box(100, d=5, seed=0)
    y = squared_norm(x)
    assert y.shape == (100, 1)
    np.testing.assert_allclose(y[:, 0], np.einsum("ij,ij->i", x, x), rtol=1e-6)


def test_make_dataset_pairs_samples_with_targets():
    x, y = make_dataset(squared_norm, 50, d=2, seed=7)
    assert x.shape == (50, 2) and y.shape == (50, 1) and y.dtype == np.float32
    assert np.all((x >= 0.0) & (x <= 1.0))
    np.testing.assert_allclose(y[:, 0], x[:, 0] ** 2 + x[:, 1] ** 2, rtol=1e-6)
    again, _ = make_dataset(squared_norm, 50, d=2, seed=7)
    np.testing.assert_array_equal(x, again)


def test_evaluate_target_keeps_the_rows_and_casts():
    x = np.array([[0.5, 2.0], [1.0, 3.0]])
    y = evaluate_target(lambda x: x[:, :1] * x[:, 1:], x, np.float64)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [[1.0], [3.0]])
    assert evaluate_target(squared_norm, x).dtype == np.float32


@settings(max_examples=20, deadline=None)
@given(n=st.integers(5, 400), seed=st.integers(0, 2**16))
def test_split_sizes_and_disjointness(n, seed):
    x, y = _with_row_ids(n)
    parts = split_60_20_20(x, y, seed=seed)
    assert list(parts) == ["train", "validation", "test"]
    rows = {name: len(px) for name, (px, _) in parts.items()}
    assert rows["validation"] == rows["test"] == n // 5
    assert rows["train"] == n - 2 * (n // 5)
    ids = np.concatenate([px[:, 0] for px, _ in parts.values()])
    np.testing.assert_array_equal(np.sort(ids), np.arange(n))  # every sample exactly once
    for px, py in parts.values():  # rows keep their targets
        np.testing.assert_array_equal(py[:, 0], 10.0 * px[:, 0])
        np.testing.assert_array_equal(px[:, 1], -px[:, 0])


def test_split_is_60_20_20_and_seeded():
    x, y = _with_row_ids(1000)
    parts = split_60_20_20(x, y, seed=0)
    assert [len(parts[k][0]) for k in ("train", "validation", "test")] == [600, 200, 200]
    again = split_60_20_20(x, y, seed=0)
    np.testing.assert_array_equal(parts["test"][0], again["test"][0])
    other = split_60_20_20(x, y, seed=1)
    assert not np.array_equal(parts["test"][0], other["test"][0])


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 200), batch_size=st.integers(1, 64), seed=st.integers(0, 2**16))
def test_minibatches_cover_every_row_once(n, batch_size, seed):
    x, y = _with_row_ids(n)
    batches = list(minibatches(x, y, batch_size, seed=seed))
    assert len(batches) == -(-n // batch_size)  # ceil(n / batch_size)
    rows = [len(bx) for bx, _ in batches]
    assert all(r == batch_size for r in rows[:-1])
    assert rows[-1] == n - batch_size * (len(batches) - 1)
    ids = np.concatenate([bx[:, 0] for bx, _ in batches])
    np.testing.assert_array_equal(np.sort(ids), np.arange(n))
    for bx, by in batches:
        np.testing.assert_array_equal(by[:, 0], 10.0 * bx[:, 0])


def test_minibatches_without_shuffling_keep_the_order():
    """As Keras' fit(shuffle=False): consecutive rows, the remainder last."""
    x, y = _with_row_ids(10)
    batches = list(minibatches(x, y, 4, seed=3, shuffle=False))
    assert [bx[:, 0].tolist() for bx, _ in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    for bx, by in batches:
        np.testing.assert_array_equal(by[:, 0], 10.0 * bx[:, 0])


def test_check_xy_casts_and_keeps():
    x, y = check_xy([[1, 2], [3, 4]], [[5], [6]])
    assert x.dtype == y.dtype == np.float32 and x.shape == (2, 2) and y.shape == (2, 1)
    x64 = np.zeros((3, 1))
    assert check_xy(x64, x64, dtype=None)[0] is x64


def test_minibatches_shuffle_with_seed():
    x, y = _with_row_ids(100)
    first = [bx[:, 0] for bx, _ in minibatches(x, y, 10, seed=0)]
    again = [bx[:, 0] for bx, _ in minibatches(x, y, 10, seed=0)]
    other = [bx[:, 0] for bx, _ in minibatches(x, y, 10, seed=1)]
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(again))
    assert not np.array_equal(np.concatenate(first), np.concatenate(other))
    assert not np.array_equal(np.concatenate(first), np.arange(100))


@pytest.mark.parametrize(
    "n, d, error, match",
    [
        (0, 2, ValueError, "n must be a positive int"),
        (-1, 2, ValueError, "n must be a positive int"),
        (10, 0, ValueError, "d must be a positive int"),
        (2.5, 2, TypeError, "n must be an int"),
        (10, True, TypeError, "d must be an int"),
    ],
)
def test_sample_unit_box_bad_arguments(n, d, error, match):
    with pytest.raises(error, match=match):
        sample_unit_box(n, d)


def test_bad_inputs():
    x, y = _with_row_ids(10)
    with pytest.raises(ValueError, match=r"x must have shape \(n, d\); got \(3,\)"):
        squared_norm(np.zeros(3))
    with pytest.raises(ValueError, match="x must be finite"):
        squared_norm(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match=r"f must map shape \(n, d\) to \(n, 1\)"):
        make_dataset(lambda x: x, 10, d=2)
    with pytest.raises(ValueError, match="same number of rows"):
        split_60_20_20(x, y[:9])
    with pytest.raises(ValueError, match="must be 2-D"):
        split_60_20_20(x, y[:, 0])
    with pytest.raises(ValueError, match="the number of samples must be >= 5; got 4"):
        split_60_20_20(x[:4], y[:4])
    with pytest.raises(ValueError, match="x and y must have the same number of rows; got 10 and 9"):
        list(minibatches(x, y[:9], 3))
    with pytest.raises(ValueError, match="must be 2-D"):
        list(minibatches(x[:, 0], y, 3))
    with pytest.raises(ValueError, match=r"validation x and y must be 2-D \(n, d\) arrays"):
        check_xy(x[:, 0], y, "validation x and y")
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        list(minibatches(x, y, 0))
    with pytest.raises(TypeError, match="batch_size must be an int"):
        list(minibatches(x, y, 2.0))


def test_fresh_test_points_are_the_exercise_target_on_the_unit_square():
    x, y = fresh_test_points(500)
    assert x.shape == (500, 2) and y.shape == (500, 1) and x.dtype == np.float32
    assert np.all((x >= 0) & (x <= 1))
    np.testing.assert_allclose(y[:, 0], x[:, 0] ** 2 + x[:, 1] ** 2, rtol=1e-6)
    again, _ = fresh_test_points(500)
    np.testing.assert_array_equal(x, again)
    with pytest.raises(ValueError, match="n must be a positive int; got 0"):
        fresh_test_points(0)
