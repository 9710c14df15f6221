"""TensorFlow two ways: the hand-written loop equals Keras' fit, step for step."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from sciml_nn.core.data import minibatches
from sciml_nn.core.mlp import (
    init_mlp,
    mlp_numpy,
    mlp_tensorflow,
    params_of,
)
from sciml_nn.core.training import as_variables
from sciml_nn.tensorflow_two_ways import (
    BatchTimer,
    keras_regressor,
    shuffled_dataset,
    train_lowlevel,
)


def _data(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 1)).astype(np.float32)
    return x, np.sin(2 * np.pi * x).astype(np.float32)


def _max_difference(variables, arrays) -> float:
    return max(float(np.max(np.abs(v.numpy() - a))) for v, a in zip(variables, arrays))


def _train_a_copy_by_hand(
    model: keras.Model, optimizer: keras.optimizers.Optimizer, *args, **kwargs
) -> tuple[list, dict[str, list[float]]]:
    """train_lowlevel on tf.Variables holding a copy of the model's weights; returns them and
    the history. *args and **kwargs are train_lowlevel's from x on, without the optimizer."""
    xi = as_variables(params_of(model))
    x, y, *rest = args
    history = train_lowlevel(lambda x: mlp_tensorflow(x, xi), xi, x, y, optimizer, *rest, **kwargs)
    return xi, history


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_train_lowlevel_equals_keras_fit(optimizer: str) -> None:
    """The chapter's claim: same weights, optimizer and batch order give the same losses. 40
    samples in batches of 16 leave a last batch of 8, so the epoch mean must weight by size."""
    x, y = _data(40)
    x_val, y_val = _data(10, seed=1)

    def new_optimizer() -> keras.optimizers.Optimizer:
        return keras.optimizers.SGD(0.1) if optimizer == "sgd" else keras.optimizers.Adam(1e-2)

    model = keras_regressor([1, 8, 8, 1], optimizer=new_optimizer(), seed=4)
    xi, ours = _train_a_copy_by_hand(
        model, new_optimizer(), x, y, 4, 16, validation=(x_val, y_val), shuffle=False
    )
    theirs = model.fit(
        x, y, batch_size=16, epochs=4, shuffle=False, validation_data=(x_val, y_val), verbose=0
    ).history
    assert len(ours["loss"]) == len(ours["val_loss"]) == 4
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-5)
    np.testing.assert_allclose(ours["val_loss"], theirs["val_loss"], rtol=1e-5)
    assert _max_difference(tf.nest.flatten(xi), model.get_weights()) < 1e-5


def test_train_lowlevel_shuffles_with_seed_plus_epoch() -> None:
    """Epoch e visits the rows in the order minibatches(..., seed + e) gives; Keras' fit, handed
    the rows in that order one epoch at a time (shuffle=False), takes the same steps."""
    x, y = _data(30)
    model = keras_regressor([1, 6, 1], optimizer=keras.optimizers.SGD(0.05), seed=7)
    xi, history = _train_a_copy_by_hand(
        model, keras.optimizers.SGD(0.05), x, y, epochs=2, batch_size=8, seed=3
    )
    for epoch in range(2):
        rows = np.concatenate([bx[:, 0] for bx, _ in minibatches(x, x, 8, seed=3 + epoch)])
        order = [int(np.flatnonzero(x[:, 0] == r)[0]) for r in rows]
        assert sorted(order) == list(range(30))  # a shuffle, not a resampling
        assert order != list(range(30))
        keras_loss = model.fit(
            x[order], y[order], batch_size=8, epochs=1, shuffle=False, verbose=0
        ).history["loss"][0]
        assert history["loss"][epoch] == pytest.approx(keras_loss, rel=1e-5)
    assert _max_difference(tf.nest.flatten(xi), model.get_weights()) < 1e-6


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs must be a positive int; got 0"),
        ({"epochs": 2.5}, TypeError, "epochs must be an int; got float"),
        ({"batch_size": -1}, ValueError, "batch_size must be a positive int; got -1"),
        ({"y": np.zeros((7, 1))}, ValueError, "same number of rows; got 8 and 7"),
        ({"x": np.zeros(8)}, ValueError, r"must be 2-D \(n, d\) arrays; got shapes \(8,\)"),
        ({"validation": (np.zeros((3, 1)), np.zeros((2, 1)))}, ValueError, "validation x and y"),
    ],
)
def test_train_lowlevel_rejects_bad_input(kwargs: dict, error: type, match: str) -> None:
    xi = as_variables(init_mlp([1, 2, 1]))
    arguments = {"x": np.zeros((8, 1)), "y": np.zeros((8, 1)), "epochs": 1, "batch_size": 4}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        train_lowlevel(
            lambda x: mlp_tensorflow(x, xi), xi, optimizer=keras.optimizers.SGD(0.1), **arguments
        )


def test_keras_regressor_penalised_loss() -> None:
    """Its loss is (eq-mse) + lam * sum_k ||W_k||_F^2, Keras' L2 penalty as its documentation
    states it, evaluated here with NumPy; the metric is the mean absolute error."""
    lam = 1e-2
    model = keras_regressor([1, 5, 1], l2=lam, seed=3)
    x, y = _data(20)
    xi = params_of(model)
    expected = np.mean((mlp_numpy(x, xi) - y) ** 2) + lam * sum(np.sum(W**2) for W, _ in xi)
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert result["loss"] == pytest.approx(expected, rel=1e-5)
    assert result["mae"] == pytest.approx(np.mean(np.abs(mlp_numpy(x, xi) - y)), rel=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"l2": -1.0}, ValueError, "l2 must be a finite number >= 0.0; got -1.0"),
        ({"l2": "0.1"}, TypeError, "l2 must be a float; got str"),
        ({"activation": "cube"}, ValueError, "activation must be one of"),
        ({"layer_sizes": [1]}, ValueError, "at least an input and an output size"),
    ],
)
def test_keras_regressor_rejects_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    arguments = {"layer_sizes": [1, 4, 1]}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        keras_regressor(**arguments)


def test_keras_regressor_saves_and_loads(tmp_path) -> None:
    """A Keras user saves and loads the compiled model, penalty, optimizer and metric included."""
    x, y = _data(20)
    model = keras_regressor([1, 5, 1], l2=1e-3, seed=3)
    model.fit(x, y, batch_size=10, epochs=2, verbose=0)
    keras.saving.save_model(model, tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(
        model.evaluate(x, y, verbose=0, return_dict=True), rel=1e-6
    )


def test_batch_timer_records_every_batch_and_epoch() -> None:
    x, y = _data(40)
    timer = BatchTimer()
    keras_regressor([1, 4, 1]).fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[timer])
    assert [len(epoch) for epoch in timer.batch_seconds] == [3, 3, 3]  # ceil(40 / 16) batches
    assert len(timer.epoch_seconds) == 3
    for batches, epoch in zip(timer.batch_seconds, timer.epoch_seconds):
        assert min(batches) > 0 and sum(batches) <= epoch


def test_early_stopping_restores_the_best_epoch() -> None:
    """With min_delta larger than any possible gain only epoch 0 counts as an improvement, so
    training stops after patience more epochs and the weights of epoch 0 come back."""
    x, y = _data(40)
    x_val, y_val = _data(10, seed=1)
    model = keras_regressor([1, 8, 1], optimizer=keras.optimizers.Adam(0.05), seed=2)
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=2, min_delta=10.0, restore_best_weights=True
    )
    history = model.fit(
        x, y, batch_size=8, epochs=50, validation_data=(x_val, y_val), callbacks=[stop], verbose=0
    ).history
    assert len(history["val_loss"]) == 3
    restored = model.evaluate(x_val, y_val, verbose=0, return_dict=True)["loss"]
    assert restored == pytest.approx(history["val_loss"][0], rel=1e-6)
    assert restored != pytest.approx(history["val_loss"][-1], rel=1e-3)


def _passes(dataset, passes: int) -> list[np.ndarray]:
    """The rows of x in the order each pass over the dataset visits them."""
    return [np.concatenate([bx.numpy()[:, 0] for bx, _ in dataset]) for _ in range(passes)]


def test_shuffled_dataset_permutes_every_pass_with_a_fixed_sequence() -> None:
    x, y = _data(30)
    batches = [len(bx) for bx, _ in shuffled_dataset(x, y, 8, seed=5)]
    assert batches == [8, 8, 8, 6]  # ceil(30 / 8) batches, the remainder last
    first, second = _passes(shuffled_dataset(x, y, 8, seed=5), 2)
    for rows in (first, second):
        np.testing.assert_array_equal(np.sort(rows), np.sort(x[:, 0]))  # all rows, once each
    assert not np.array_equal(first, second)  # a new order each epoch
    again = _passes(shuffled_dataset(x, y, 8, seed=5), 2)
    np.testing.assert_array_equal(np.stack(again), np.stack([first, second]))
    other = _passes(shuffled_dataset(x, y, 8, seed=6), 1)[0]
    assert not np.array_equal(other, first)


def test_fit_on_shuffled_dataset_takes_the_steps_of_fit_on_that_order() -> None:
    """An epoch of fit on the dataset equals fit on arrays handed the rows in the order that a
    dataset with the same seed visits first (the targets stay paired with their inputs), and
    a second run of several epochs with the same seed ends with the same weights."""
    x, y = _data(30)
    y = y + x  # targets that are not a function of the row order
    rows = _passes(shuffled_dataset(x, y, 8, seed=2), 1)[0]
    index = [int(np.flatnonzero(x[:, 0] == r)[0]) for r in rows]

    def new_model() -> keras.Model:
        return keras_regressor([1, 6, 1], optimizer=keras.optimizers.SGD(0.05), seed=7)

    model, reference = new_model(), new_model()
    loss = model.fit(shuffled_dataset(x, y, 8, seed=2), shuffle=False, verbose=0)
    expected = reference.fit(x[index], y[index], batch_size=8, shuffle=False, verbose=0)
    assert loss.history["loss"][0] == pytest.approx(expected.history["loss"][0], rel=1e-6)
    assert _max_difference(model.trainable_variables, reference.get_weights()) < 1e-6
    runs = [new_model() for _ in range(2)]
    for run in runs:
        run.fit(shuffled_dataset(x, y, 8, seed=2), epochs=3, shuffle=False, verbose=0)
    assert _max_difference(runs[0].trainable_variables, runs[1].get_weights()) == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batch_size": 0}, ValueError, "batch_size must be a positive int; got 0"),
        ({"seed": 1.5}, TypeError, "seed must be an int; got float"),
        ({"y": np.zeros((7, 1))}, ValueError, "same number of rows; got 8 and 7"),
    ],
)
def test_shuffled_dataset_rejects_bad_input(kwargs: dict, error: type, match: str) -> None:
    arguments = {"x": np.zeros((8, 1)), "y": np.zeros((8, 1)), "batch_size": 4}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        shuffled_dataset(**arguments)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batch_size": 0}, ValueError, "batch_size must be a positive int; got 0"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be an int; got float"),
        ({"seed": 0.5}, TypeError, "seed must be an int; got float"),
        ({"y": np.zeros((7, 1))}, ValueError, "same number of rows; got 8 and 7"),
    ],
)
def test_shuffled_dataset_rejects_bad_arguments(kwargs, error, match) -> None:
    arguments = {"x": np.zeros((8, 1)), "y": np.zeros((8, 1)), "batch_size": 4, **kwargs}
    with pytest.raises(error, match=match):
        shuffled_dataset(**arguments)
