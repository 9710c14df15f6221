"""Tests of sciml_nn.optimizers: every optimizer against ``keras.optimizers`` on the same problem,
with our schedules and Keras', gradient descent against its proven rate on a quadratic, the
training history against Keras' ``fit``, the argument checks."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn import optimizers as opt
from sciml_nn import optimizers_schedules as schedules
from sciml_nn.core.mlp import init_mlp, keras_mlp, mlp_tensorflow
from sciml_nn.core.training import as_variables, flat_variables, make_train_step

STEPS = 400


def _train(optimizer, steps: int = STEPS) -> list[np.ndarray]:
    """Full-batch training of a 2-16-16-1 tanh network on a smooth non-convex regression."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(64, 2)).astype(np.float32)
    y = (np.sin(3 * x[:, :1]) * np.cos(2 * x[:, 1:])).astype(np.float32)
    xi = as_variables(init_mlp([2, 16, 16, 1], seed=1))
    step = make_train_step(lambda inputs: mlp_tensorflow(inputs, xi), xi, optimizer)
    for _ in range(steps):
        step(x, y)
    return [v.numpy() for v in flat_variables(xi)]


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
    ("CosineDecay", (0.1, 300), {}),
    ("PiecewiseConstantDecay", ([100, 200], [0.1, 0.05, 0.01]), {}),
]


@pytest.mark.parametrize(("name", "arguments", "keywords"), SCHEDULES)
def test_optimizer_with_schedule_follows_keras(name: str, arguments: tuple, keywords: dict) -> None:
    theirs = _train(
        keras.optimizers.SGD(
            getattr(keras.optimizers.schedules, name)(*arguments, **keywords), momentum=0.9
        )
    )
    ours = _train(opt.SGD(getattr(schedules, name)(*arguments, **keywords), momentum=0.9))
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
        (opt.SGD(), 0),
        (opt.SGD(momentum=0.5), 1),
        (opt.Adam(), 2),
        (opt.AdamW(), 2),
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
    # eta* minimises the contraction factor max_i |1 - eta lambda_i| over all stable steps
    etas = np.linspace(0, 2 / (kappa * lam_min), 200_001)
    factors = np.max(np.abs(1 - np.outer(etas, np.linalg.eigvalsh(A))), axis=1)
    assert eta == pytest.approx(etas[np.argmin(factors)], abs=etas[1])
    assert rate == pytest.approx(factors.min(), abs=1e-4)
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
        xi = as_variables(init_mlp([1, 4, 1], seed=2))
        step = make_train_step(lambda x: mlp_tensorflow(x, xi), xi, opt.Adam(0.01), use_tf_function)
        x = np.linspace(0, 1, 8, dtype=np.float32)[:, None]
        for _ in range(5):
            step(x, x**2)
        return np.concatenate([v.numpy().ravel() for v in flat_variables(xi)])

    np.testing.assert_allclose(run(True), run(False), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: opt.SGD(-0.1), ValueError, "learning_rate must be a finite number >= 0; got -0.1"),
        (lambda: opt.SGD("fast"), TypeError, "learning_rate must be a float; got str"),
        (lambda: opt.SGD(momentum=1.0), ValueError, r"momentum must lie in \[0, 1\); got 1.0"),
        (lambda: opt.SGD(momentum=-0.5), ValueError, "momentum must lie in"),
        (lambda: opt.Adam(beta_1=1.0), ValueError, r"beta_1 must lie in \[0, 1\)"),
        (lambda: opt.Adam(beta_2=-0.1), ValueError, r"beta_2 must lie in \[0, 1\)"),
        (lambda: opt.Adam(epsilon=0.0), ValueError, "epsilon must be a finite number > 0; got 0.0"),
        (
            lambda: opt.AdamW(weight_decay=-1e-3),
            ValueError,
            "weight_decay must be a finite number >= 0",
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
    with pytest.raises(ValueError, match=r"gradient of W_1:0 must have the shape of W_1:0, \(3, 2\); got \(2, 3\)"):
        opt.Adam().apply_gradients([(tf.zeros((2, 3)), w)])
    with pytest.raises(ValueError, match="gradient of variable W_1:0 is None"):
        opt.SGD().apply_gradients([(None, w)])
    with pytest.raises(
        TypeError, match="must be tf.Variable or keras.Variable objects; got ndarray"
    ):
        opt.SGD().apply_gradients([(tf.zeros(2), np.zeros(2))])
    with pytest.raises(ValueError, match=r"x0 must have shape \(n,\); got \(1, 2\)"):
        opt.optimizer_path(opt.rosenbrock, [[0.0, 1.0]], opt.SGD(), 3)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        opt.optimizer_path(opt.rosenbrock, [0.0, 1.0], opt.SGD(), 0)
    with pytest.raises(ValueError, match="record_every must be a positive int"):
        opt.full_batch_history(lambda x, y: 0.0, 0.0, 0.0, 3, record_every=0)


def test_our_adam_on_keras_variables_records_what_keras_fit_reports() -> None:
    """A Keras model trained by our Adam through full_batch_history, and the same model trained
    by Keras' Adam in ``fit`` (one full batch per epoch): the same losses, step for step."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (32, 2)).astype(np.float32)
    y = np.sin(2 * x[:, :1]) * x[:, 1:]
    ours, theirs = keras_mlp([2, 8, 1], seed=5), keras_mlp([2, 8, 1], seed=5)
    step = make_train_step(ours, ours.trainable_variables, opt.Adam(0.02))
    evaluations = []
    history = opt.full_batch_history(
        step, x, y, 20, record_every=6, evaluate=lambda: evaluations.append(1) or 0.5
    )
    theirs.compile(keras.optimizers.Adam(0.02), "mse")
    fit = theirs.fit(x, y, batch_size=32, epochs=20, shuffle=False, verbose=0).history["loss"]
    assert history["step"] == [6, 12, 18, 20]
    np.testing.assert_allclose(history["loss"], [fit[k - 1] for k in history["step"]], rtol=1e-5)
    assert fit[-1] < 0.5 * fit[0]  # it did train
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert history["error"] == [0.5] * 4 and len(evaluations) == 4
    assert history["seconds"][0] > 0 and history["seconds"] == sorted(history["seconds"])
