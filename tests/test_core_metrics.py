"""The shared core's error measures, against closed forms."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.core.data import sample_unit_box, squared_norm
from sciml_nn.core.metrics import early_stopping, fit_power_law, relative_error, relative_l2_error


def _keras_decisions(val_loss, patience: int, min_delta: float) -> tuple[int, int]:
    rule = keras.callbacks.EarlyStopping(
        monitor="val_loss", mode="min", patience=patience, min_delta=min_delta
    )
    rule.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    rule.model.stop_training = False
    rule.on_train_begin()
    for epoch, value in enumerate(val_loss):
        rule.on_epoch_end(epoch, {"val_loss": value})
        if rule.model.stop_training:
            return rule.best_epoch + 1, rule.stopped_epoch + 1
    return rule.best_epoch + 1, 0


def test_relative_l2_error_closed_form():
    x = sample_unit_box(100, 2, seed=1)
    y = squared_norm(x)
    assert relative_l2_error(1.01 * y, x, y) == pytest.approx(0.01, rel=1e-6)
    # A constant offset c: ||c||_2 / ||f||_2 = c sqrt(n) / ||f||_2.
    expected = 0.5 * np.sqrt(100) / np.linalg.norm(y.astype(np.float64))
    assert relative_l2_error(lambda z: squared_norm(z) + 0.5, x, y) == pytest.approx(expected)
    assert relative_l2_error(y, x, y) == 0.0


def test_relative_error_against_numpy_norms():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(5, 3, 4))
    prediction = truth + 1e-3 * rng.normal(size=truth.shape)
    expected = np.linalg.norm(prediction - truth) / np.linalg.norm(truth)
    assert relative_error(prediction, truth) == pytest.approx(expected, rel=1e-14)
    per_sample = relative_error(prediction, truth, per_sample=True)
    for k in range(5):
        one = np.linalg.norm(prediction[k] - truth[k]) / np.linalg.norm(truth[k])
        assert per_sample[k] == pytest.approx(one, rel=1e-14)
    with pytest.raises(ValueError, match="prediction must have the shape of truth"):
        relative_error(prediction[:2], truth)
    with pytest.raises(ValueError, match="per_sample needs samples"):
        relative_error(truth[0, 0], truth[0, 0], per_sample=True)


@settings(max_examples=60, deadline=None)
@given(
    val_loss=st.lists(st.integers(0, 6).map(float), min_size=1, max_size=25),
    patience=st.integers(0, 5),
    min_delta=st.sampled_from([0.0, 0.5, 1.0, 1.5]),
)
def test_early_stopping_makes_the_decisions_of_keras(val_loss, patience, min_delta) -> None:
    # Small integers make ties and exact min_delta boundaries common.
    assert early_stopping(val_loss, patience, min_delta) == _keras_decisions(
        val_loss, patience, min_delta
    )


def test_early_stopping_on_a_known_sequence() -> None:
    val_loss = [5.0, 4.0, 4.5, 3.0, 3.5, 3.2, 3.9, 2.0]
    assert early_stopping(val_loss, patience=3) == (4, 7)
    assert early_stopping(val_loss, patience=4) == (8, 0)
    assert early_stopping(val_loss, patience=0) == (2, 3)
    assert early_stopping([1.0, float("nan"), 0.5], patience=5) == (3, 0)


def test_early_stopping_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="patience must be >= 0; got -1"):
        early_stopping([1.0, 2.0], -1)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        early_stopping([], 1)
    with pytest.raises(ValueError, match="min_delta must be a float >= 0"):
        early_stopping([1.0], 1, min_delta=-0.1)


@settings(max_examples=40, deadline=None)
@given(
    p=st.floats(-3, 3),
    C=st.floats(1e-3, 1e3),
    n=st.lists(st.integers(1, 10**6), min_size=2, max_size=10, unique=True),
)
def test_fit_power_law_recovers_an_exact_power_law(p: float, C: float, n: list[int]) -> None:
    n = np.array(n, dtype=np.float64)
    fitted_p, fitted_C = fit_power_law(n, C * n**p)
    assert fitted_p == pytest.approx(p, abs=1e-9)
    assert fitted_C == pytest.approx(C, rel=1e-8)


def test_fit_power_law_is_the_least_squares_line_through_the_logarithms() -> None:
    n = np.array([10, 30, 100, 300, 1000])
    errors = np.array([0.2, 0.09, 0.02, 0.011, 0.003])
    p, C = fit_power_law(n, errors)
    slope, intercept = np.polyfit(np.log(n), np.log(errors), 1)
    assert p == pytest.approx(slope, rel=1e-12)
    assert np.log(C) == pytest.approx(intercept, rel=1e-12)


def test_fit_power_law_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="same length; got shapes"):
        fit_power_law([1, 2, 3], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive to take logarithms"):
        fit_power_law([1, 2], [1.0, 0.0])
    with pytest.raises(ValueError, match="positive to take logarithms"):
        fit_power_law([-1, 2], [1.0, 1.0])
    with pytest.raises(ValueError, match="at least two distinct values of n"):
        fit_power_law([5, 5], [1.0, 2.0])


def test_relative_l2_error_checks_its_points():
    x, y = np.zeros((4, 2)), np.ones((4, 1))
    assert relative_l2_error(lambda z: np.full((len(z), 1), 1.5), x, y) == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"x must have shape \(n, m\); got \(4,\)"):
        relative_l2_error(y, np.zeros(4), y)
    with pytest.raises(ValueError, match=r"y must have shape \(4, 1\); got \(4,\)"):
        relative_l2_error(y, x, np.ones(4))
    with pytest.raises(ValueError, match="prediction must have the shape of truth"):
        relative_l2_error(np.ones((3, 1)), x, y)
