"""Tests of sciml_nn.regularization_dropout: dropout's statistics against the binomial law and
``keras.layers.Dropout``, a Keras save and load, the network with dropout against NumPy at
inference, and the argument checks."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from sciml_nn.core.data import make_dataset
from sciml_nn.core.mlp import keras_mlp, mlp_numpy, params_of
from sciml_nn.regularization import train_regularized
from sciml_nn.regularization_dropout import Dropout, mlp_with_dropout


@pytest.mark.parametrize("layer_class", [Dropout, keras.layers.Dropout])
@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_dropout_statistics(layer_class: type, rate: float) -> None:
    N = 200_000
    x = tf.ones((1000, N // 1000))
    layer = layer_class(rate, seed=7)
    out = layer(x, training=True).numpy()
    keep = 1.0 - rate
    # kept entries are scaled by exactly 1 / (1 - rate)
    np.testing.assert_allclose(out[out != 0], 1.0 / keep, rtol=1e-6)
    # fraction of zeros ~ Binomial(N, rate) / N: within 5 standard errors
    fraction = np.mean(out == 0)
    assert abs(fraction - rate) < 5 * np.sqrt(rate * keep / N)
    # each entry has mean 1 and variance rate / (1 - rate): the mean is within 5 standard errors
    assert abs(np.mean(out) - 1.0) < 5 * np.sqrt(rate / keep / N)


@pytest.mark.parametrize("training", [False, None])
def test_dropout_is_the_identity_at_inference(training: bool | None) -> None:
    x = tf.random.stateless_normal((64, 16), seed=(1, 2))
    out = Dropout(0.5, seed=0)(x, training=training)
    np.testing.assert_array_equal(out.numpy(), x.numpy())


def test_dropout_config_round_trip() -> None:
    layer = Dropout(0.25, seed=11, name="drop")
    config = layer.get_config()
    assert config["rate"] == 0.25 and config["seed"] == 11 and config["name"] == "drop"
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(clone, Dropout)
    assert (clone.rate, clone.seed, clone.name) == (0.25, 11, "drop")
    # the same seed gives the same mask
    x = tf.ones((8, 32))
    np.testing.assert_array_equal(layer(x, training=True).numpy(), clone(x, training=True).numpy())


def test_dropout_model_saves_and_loads(tmp_path) -> None:
    model = mlp_with_dropout([2, 8, 8, 1], 0.3, seed=4)
    x = np.random.default_rng(0).uniform(0, 1, (16, 2)).astype(np.float32)
    keras.saving.save_model(model, tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert [layer.rate for layer in loaded.layers if isinstance(layer, Dropout)] == [0.3, 0.3]
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_dropout_model_trains_and_is_deterministic_at_inference() -> None:
    x, y = make_dataset(lambda x: np.sin(2 * np.pi * x), 16, d=1, seed=0)
    model = mlp_with_dropout([1, 16, 1], 0.2, seed=0)
    history = train_regularized(model, x, y, keras.optimizers.Adam(0.02), 300, record_every=100)
    assert history["loss"][-1] < 0.5 * float(np.var(y))  # half the error of the best constant
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())


@pytest.mark.parametrize("layer_class", [Dropout, keras.layers.Dropout])
def test_mlp_with_dropout_is_keras_mlp_at_inference(layer_class: type) -> None:
    x = np.linspace(0, 1, 7, dtype=np.float32)[:, None]
    model = mlp_with_dropout([1, 8, 8, 1], 0.3, seed=2, dropout=layer_class)
    assert sum(isinstance(layer, layer_class) for layer in model.layers) == 2
    # the initial weights are keras_mlp's, and at inference the network is the plain MLP on them
    for a, b in zip(model.get_weights(), keras_mlp([1, 8, 8, 1], seed=2).get_weights()):
        np.testing.assert_array_equal(a, b)
    reference = mlp_numpy(x, params_of(model), "tanh")
    np.testing.assert_allclose(model(x).numpy(), reference, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(model(x, training=True).numpy(), model(x).numpy())


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"rate must lie in \[0, 1\); got 1.0"):
        Dropout(1.0)
    with pytest.raises(ValueError, match=r"rate must lie in \[0, 1\); got -0.1"):
        Dropout(-0.1)
    with pytest.raises(TypeError, match="rate must be a float; got str"):
        Dropout("0.5")
    with pytest.raises(ValueError, match="layer_sizes needs at least an input and an output"):
        mlp_with_dropout([3], 0.1)
