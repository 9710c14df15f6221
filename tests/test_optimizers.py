"""Tests of sciml_nn.optimizers: every optimizer and schedule against ``keras.optimizers`` on the
same problem, gradient descent against its proven rate on a quadratic, the argument checks."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn import optimizers as opt
from sciml_nn.networks import init_mlp, mlp_tensorflow
from sciml_nn.training import make_train_step

STEPS = 400


def _train(optimizer, steps: int = STEPS) -> list[np.ndarray]:
    """Full-batch training of a 2-16-16-1 tanh network on a smooth non-convex regression."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(64, 2)).astype(np.float32)
    y = (np.sin(3 * x[:, :1]) * np.cos(2 * x[:, 1:])).astype(np.float32)
    params = [(tf.Variable(W), tf.Variable(b)) for W, b in init_mlp([2, 16, 16, 1], seed=1)]
    step = make_train_step(lambda inputs: mlp_tensorflow(inputs, params), params, optimizer)
    for _ in range(steps):
        step(x, y)
    return [v.numpy() for pair in params for v in pair]


def _relative_difference(ours: list[np.ndarray], theirs: list[np.ndarray]) -> float:
    """max |ours - theirs| / max |theirs| over all parameters together."""
    a, b = (np.concatenate([v.ravel() for v in vs]) for vs in (ours, theirs))
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


CONFIGURATIONS = [
    ("SGD", {}),
    ("SGD", {"learning_rate": 0.1}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("Adam", {}),
    ("Adam", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-4}),
    ("AdamW", {}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1, "beta_2": 0.95, "epsilon": 1e-5}),
]


@pytest.mark.parametrize(("name", "arguments"), CONFIGURATIONS)
def test_optimizer_follows_keras(name: str, arguments: dict) -> None:
    ours = _train(getattr(opt, name)(**arguments))
    theirs = _train(getattr(keras.optimizers, name)(**arguments))
    start = [a for pair in init_mlp([2, 16, 16, 1], seed=1) for a in pair]
    assert _relative_difference(theirs, start) > 1e-2  # the weights did move
    assert _relative_difference(ours, theirs) < 1e-4


def test_defaults_are_keras_defaults() -> None:
    for name, attributes in [
        ("SGD", ["learning_rate", "momentum", "nesterov"]),
        ("Adam", ["learning_rate", "beta_1", "beta_2", "epsilon"]),
        ("AdamW", ["learning_rate", "weight_decay", "beta_1", "beta_2", "epsilon"]),
    ]:
        ours, theirs = getattr(opt, name)(), getattr(keras.optimizers, name)()
        for attribute in attributes:
            assert float(getattr(ours, attribute)) == pytest.approx(
                float(np.asarray(getattr(theirs, attribute))), rel=1e-7
            ), (name, attribute)


SCHEDULES = [
    ("ExponentialDecay", (0.1, 50, 0.5), {}),
    ("ExponentialDecay", (0.1, 50, 0.5), {"staircase": True}),
    ("CosineDecay", (0.1, 300), {}),
    ("CosineDecay", (0.1, 300), {"alpha": 0.01}),
    ("PiecewiseConstantDecay", ([100, 200], [0.1, 0.05, 0.01]), {}),
]


@pytest.mark.parametrize(("name", "arguments", "keywords"), SCHEDULES)
def test_schedule_equals_keras(name: str, arguments: tuple, keywords: dict) -> None:
    ours = getattr(opt, name)(*arguments, **keywords)
    theirs = getattr(keras.optimizers.schedules, name)(*arguments, **keywords)
    steps = np.arange(0, 600)
    values = np.array([float(ours(tf.constant(k, tf.int64))) for k in steps])
    expected = np.array([float(theirs(tf.constant(k, tf.int64))) for k in steps])
    assert values[0] == pytest.approx(0.1)
    assert values[-1] < 0.05  # it did decay
    assert np.max(np.abs(values - expected)) / 0.1 < 1e-6
    # A tensor of steps gives the values of the steps one by one, up to float32 rounding of the
    # initial rate (vectorized pow and cos round differently).
    at_once = ours(tf.constant(steps, tf.int64)).numpy()
    assert at_once.shape == steps.shape
    assert np.max(np.abs(at_once - values)) / 0.1 < 1e-6


@pytest.mark.parametrize(("name", "arguments", "keywords"), SCHEDULES[::2])
def test_optimizer_with_schedule_follows_keras(name: str, arguments: tuple, keywords: dict) -> None:
    theirs = _train(
        keras.optimizers.SGD(
            getattr(keras.optimizers.schedules, name)(*arguments, **keywords), momentum=0.9
        )
    )
    ours = _train(opt.SGD(getattr(opt, name)(*arguments, **keywords), momentum=0.9))
    assert _relative_difference(ours, theirs) < 1e-4
    # A Keras schedule is a callable of the step too, so ours accepts it.
    ours_keras_schedule = _train(
        opt.Adam(getattr(keras.optimizers.schedules, name)(*arguments, **keywords))
    )
    theirs_adam = _train(
        keras.optimizers.Adam(getattr(keras.optimizers.schedules, name)(*arguments, **keywords))
    )
    assert _relative_difference(ours_keras_schedule, theirs_adam) < 1e-4


def test_callable_learning_rate_of_the_step() -> None:
    # On f(w) = w^2 / 2 the gradient is w, so gradient descent multiplies w by (1 - eta_k).
    w = tf.Variable([1.0, -2.0], dtype=tf.float64)
    optimizer = opt.SGD(lambda k: 0.5 ** (1 + tf.cast(k, tf.float64)))
    for _ in range(6):
        optimizer.apply_gradients([(tf.identity(w), w)])
    expected = np.array([1.0, -2.0]) * np.prod([1 - 0.5 ** (1 + k) for k in range(6)])
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-14)
    assert int(optimizer.iterations) == 6


def test_momentum_is_the_heavy_ball_in_float64() -> None:
    # v_k = w_k - w_{k-1}, so w_{k+1} = w_k - eta grad f(w_k) + mu (w_k - w_{k-1}).
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    path = opt.optimizer_path(opt.quadratic(A), [1.0, -1.0], opt.SGD(0.2, momentum=0.7), 30)
    w_previous = w = np.array([1.0, -1.0])
    for k in range(30):
        w, w_previous = w - 0.2 * A @ w + 0.7 * (w - w_previous), w
        np.testing.assert_allclose(path[k + 1], w, rtol=1e-12, atol=1e-15)


def test_slots_are_lazy_and_counted() -> None:
    variables = [tf.Variable(np.ones((3, 2), np.float32)), tf.Variable(np.ones(2, np.float32))]
    gradients = [tf.ones((3, 2)), tf.ones(2)]
    for optimizer, slots_per_variable in [
        (opt.SGD(), 0), (opt.SGD(momentum=0.5), 1), (opt.Adam(), 2), (opt.AdamW(), 2)
    ]:
        assert len(optimizer._slots) == 0
        for _ in range(3):
            optimizer.apply_gradients(zip(gradients, variables))
        assert len(optimizer._slots) == slots_per_variable * len(variables)
        assert int(optimizer.iterations) == 3


def _rotated(lam_min: float, lam_max: float, angle: float) -> np.ndarray:
    R = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return R @ np.diag([lam_min, lam_max]) @ R.T


@settings(max_examples=8, deadline=None)
@given(
    lam_min=st.floats(0.1, 2.0),
    kappa=st.floats(2.0, 100.0),
    angle=st.floats(0.0, np.pi),
)
def test_gradient_descent_converges_at_the_theoretical_rate(
    lam_min: float, kappa: float, angle: float
) -> None:
    A = _rotated(lam_min, kappa * lam_min, angle)
    eta, rate = opt.gradient_descent_rate(A)
    assert eta == pytest.approx(2 / (lam_min * (1 + kappa)), rel=1e-10)
    assert rate == pytest.approx((kappa - 1) / (kappa + 1), rel=1e-10)
    path = opt.optimizer_path(opt.quadratic(A), [1.0, 0.5], opt.SGD(eta), 50)
    error = np.linalg.norm(path, axis=1)  # the minimum is x* = 0
    measured = (error[-1] / error[0]) ** (1 / 50)
    assert measured == pytest.approx(rate, rel=1e-6)
    # The step 1/lambda_max removes the lambda_max part at once, then the rest shrinks by
    # 1 - 1/kappa per step: slower.
    slow = opt.optimizer_path(opt.quadratic(A), [1.0, 0.5], opt.SGD(1 / (kappa * lam_min)), 50)
    measured_slow = (np.linalg.norm(slow[-1]) / np.linalg.norm(slow[1])) ** (1 / 49)
    assert measured_slow == pytest.approx(1 - 1 / kappa, rel=1e-6)


def test_rosenbrock_value_and_minimum() -> None:
    x = tf.Variable([1.0, 1.0], dtype=tf.float64)
    with tf.GradientTape() as tape:
        value = opt.rosenbrock(x)
    assert float(value) == 0.0
    assert np.max(np.abs(tape.gradient(value, x).numpy())) == 0.0
    assert float(opt.rosenbrock(tf.constant([-1.0, 2.0]))) == pytest.approx(4 + 100)


def test_adam_reaches_the_rosenbrock_minimum() -> None:
    path = opt.optimizer_path(opt.rosenbrock, [-1.2, 1.0], opt.Adam(0.05), 2000)
    assert np.linalg.norm(path[-1] - 1.0) < 1e-3


def test_works_in_eager_mode_as_in_tf_function() -> None:
    def run(use_tf_function: bool) -> np.ndarray:
        params = [(tf.Variable(W), tf.Variable(b)) for W, b in init_mlp([1, 4, 1], seed=2)]
        step = make_train_step(
            lambda x: mlp_tensorflow(x, params), params, opt.Adam(0.01), use_tf_function
        )
        x = np.linspace(0, 1, 8, dtype=np.float32)[:, None]
        for _ in range(5):
            step(x, x**2)
        return np.concatenate([v.numpy().ravel() for pair in params for v in pair])

    np.testing.assert_allclose(run(True), run(False), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: opt.SGD(-0.1), ValueError, r"learning_rate must lie in \[0, inf\); got -0.1"),
        (lambda: opt.SGD("fast"), TypeError, "learning_rate must be a float; got str"),
        (lambda: opt.SGD(momentum=1.0), ValueError, r"momentum must lie in \[0, 1\); got 1.0"),
        (lambda: opt.SGD(momentum=-0.5), ValueError, "momentum must lie in"),
        (lambda: opt.Adam(beta_1=1.0), ValueError, r"beta_1 must lie in \[0, 1\)"),
        (lambda: opt.Adam(beta_2=-0.1), ValueError, r"beta_2 must lie in \[0, 1\)"),
        (lambda: opt.Adam(epsilon=0.0), ValueError, r"epsilon must lie in \(0, inf\)"),
        (lambda: opt.AdamW(weight_decay=-1e-3), ValueError, "weight_decay must lie in"),
        (lambda: opt.ExponentialDecay(0.1, 0, 0.5), ValueError, "decay_steps must be a positive"),
        (lambda: opt.ExponentialDecay(0.1, 1.5, 0.5), TypeError, "decay_steps must be an int"),
        (lambda: opt.CosineDecay(0.1, -3), ValueError, "decay_steps must be a positive int"),
        (lambda: opt.CosineDecay(0.1, 10, alpha=2.0), ValueError, r"alpha must lie in \[0, 1\]"),
        (
            lambda: opt.PiecewiseConstantDecay([10, 20], [0.1, 0.01]),
            ValueError,
            "one more entry than boundaries; got 2 boundaries and 2 values",
        ),
        (
            lambda: opt.PiecewiseConstantDecay([20, 10], [0.1, 0.01, 0.001]),
            ValueError,
            "boundaries must increase strictly",
        ),
        (lambda: opt.quadratic(np.array([[1.0, 2.0], [0.0, 1.0]])), ValueError, "symmetric"),
        (lambda: opt.quadratic(-np.eye(2)), ValueError, "positive definite"),
        (lambda: opt.gradient_descent_rate(np.ones(3)), ValueError, r"got shape \(3,\)"),
    ],
)
def test_bad_arguments_raise(make, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()


def test_apply_gradients_checks_its_pairs() -> None:
    w = tf.Variable(np.zeros((3, 2), np.float32), name="W_1")
    with pytest.raises(ValueError, match=r"variable W_1:0 has shape \(2, 3\); .* shape \(3, 2\)"):
        opt.Adam().apply_gradients([(tf.zeros((2, 3)), w)])
    with pytest.raises(ValueError, match="gradient of variable W_1:0 is None"):
        opt.SGD().apply_gradients([(None, w)])
    with pytest.raises(TypeError, match="must be tf.Variable objects; got ndarray"):
        opt.SGD().apply_gradients([(tf.zeros(2), np.zeros(2))])
    with pytest.raises(ValueError, match=r"x0 must be a vector of shape \(d,\)"):
        opt.optimizer_path(opt.rosenbrock, [[0.0, 1.0]], opt.SGD(), 3)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        opt.optimizer_path(opt.rosenbrock, [0.0, 1.0], opt.SGD(), 0)
