"""The exercise: fit :math:`f(x) = x^T x` on the unit box :math:`[0, 1]^2` with
both interfaces.

Code of the chapter *Exercise: fit f(x) = xᵀx in the unit box*
(``book/exercise/fit-xtx.md``).

Accuracy is the relative :math:`L^2` error on fresh test points (the book's
equation :math:numref:`eq-relative-l2`). The recipe trains a small tanh network
on samples :math:`(x_i, f(x_i))` with the Levenberg-Marquardt steps of
:mod:`sciml_nn.second_order_training`, with the low-level interface or
with Keras; :mod:`sciml_nn.fit_xtx_experiments` holds the naive baseline and
the measurements that compare the recipe with first-order optimizers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import (
    check_array,
    check_choice,
    check_int,
)
from sciml_nn.core.data import make_dataset, squared_norm
from sciml_nn.core.mlp import (
    check_activation,
    init_mlp,
    keras_mlp,
    mlp_tensorflow,
)
from sciml_nn.core.training import (
    as_variables,
    flat_variables,
    make_train_step,
)
from sciml_nn.second_order_training import (
    LevenbergMarquardtModel,
    data_residuals,
    make_levenberg_marquardt_step,
)

INTERFACES = ("keras", "lowlevel")


RECIPES = ("levenberg-marquardt", "adam")


#: The optimizer of each recipe, one of ``OPTIMIZERS``.
RECIPE_OPTIMIZERS = {
    "levenberg-marquardt": "levenberg-marquardt",
    "adam": "adam-decay",
}


FIRST_ORDER_OPTIMIZERS = ("sgd", "momentum", "adam", "adam-decay")


OPTIMIZERS = (*FIRST_ORDER_OPTIMIZERS, "levenberg-marquardt")


DEFAULT_STEPS = {"levenberg-marquardt": 100, "adam": 3000}


def exercise_setup(
    width: int = 20, depth: int = 2, n_train: int = 1024, seed: int = 0
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The exercise's layer sizes :math:`(2, w, \\dots, w, 1)`, ``depth``
    hidden layers of ``width`` units, and ``n_train`` samples :math:`(x_i,
    x_i^T x_i)` with :math:`x_i` uniform in :math:`[0, 1]^2`, drawn with
    ``seed`` (which seeds Keras too)."""
    layer_sizes = (
        [2]
        + [check_int("width", width, 1)] * check_int("depth", depth, 1)
        + [1]
    )
    keras.utils.set_random_seed(check_int("seed", seed))
    x, y = make_dataset(
        squared_norm, check_int("n_train", n_train, 1), 2, seed
    )
    return layer_sizes, x, y


class LowLevelMLP(tf.Module):
    """The network :math:numref:`eq-mlp` on ``tf.Variable`` s, inputs mapped
    from [0, 1] to [-1, 1].

    ``xi`` holds :math:`\\xi`, the ``(W, b)`` pairs of
    :func:`~sciml_nn.core.mlp.init_mlp`, as variables of ``dtype``.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "tanh",
        seed: int = 0,
        dtype: str = "float32",
    ) -> None:
        super().__init__(name="lowlevel_mlp")
        self.activation = check_activation(activation)
        self.dtype = check_choice("dtype", dtype, ("float32", "float64"))
        self.xi = as_variables(
            [
                (W.astype(dtype), b.astype(dtype))
                for W, b in init_mlp(layer_sizes, seed)
            ]
        )

    def forward(self, x: tf.Tensor) -> tf.Tensor:
        """:math:`N(2x - 1, \\xi)` on a tensor of ``dtype``, differentiable by
        ``tf.GradientTape``."""
        return mlp_tensorflow(2.0 * x - 1.0, self.xi, self.activation)

    def __call__(self, x: np.ndarray) -> tf.Tensor:
        """Evaluate on an array of shape ``(n, 2)``; returns shape ``(n,
        1)``."""
        return self.forward(
            tf.constant(check_array("x", x, (None, 2), self.dtype))
        )


def keras_network(
    layer_sizes: Sequence[int], activation: str = "tanh", seed: int = 0
) -> keras.Sequential:
    """:func:`~sciml_nn.core.mlp.keras_mlp` behind a layer that maps [0, 1] to
    [-1, 1]."""
    return keras.Sequential(
        [
            keras.Input(shape=(layer_sizes[0],)),
            keras.layers.Rescaling(scale=2.0, offset=-1.0),
            keras_mlp(layer_sizes, activation, seed),
        ]
    )


def first_order_optimizer(name: str, steps: int) -> keras.optimizers.Optimizer:
    """The Keras optimizers of the comparison, one of
    ``FIRST_ORDER_OPTIMIZERS``, with learning rates tuned for this problem;
    ``"adam-decay"`` decays over ``steps`` steps."""
    check_choice("optimizer", name, FIRST_ORDER_OPTIMIZERS)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=0.3)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=1e-2)
    schedule = keras.optimizers.schedules.CosineDecay(
        1e-2, decay_steps=check_int("steps", steps, 1), alpha=1e-3
    )
    return keras.optimizers.Adam(learning_rate=schedule)


def training_step(
    model: LowLevelMLP, optimizer: str, steps: int
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """The compiled full-batch step of ``model`` with ``optimizer``, one of
    ``OPTIMIZERS``: a Levenberg-Marquardt step, or a step of
    :func:`first_order_optimizer` for a run of ``steps`` steps."""
    check_choice("optimizer", optimizer, OPTIMIZERS)
    if optimizer == "levenberg-marquardt":
        return make_levenberg_marquardt_step(
            data_residuals(model.forward), model.xi
        )
    keras_optimizer = first_order_optimizer(optimizer, steps)
    # its state now, not inside the first compiled step (traced twice then)
    keras_optimizer.build(flat_variables(model.xi))
    return make_train_step(model.forward, model.xi, keras_optimizer)


def fit_xtx(
    interface: str = "keras",
    seed: int = 0,
    *,
    recipe: str = "levenberg-marquardt",
    steps: int | None = None,
    width: int = 20,
    depth: int = 2,
    activation: str = "tanh",
    n_train: int = 1024,
) -> LowLevelMLP | keras.Model:
    """Train a network with ``depth`` hidden layers of ``width`` units on
    ``n_train`` samples :math:`(x_i, x_i^T x_i)`, :math:`x_i` uniform in
    :math:`[0, 1]^2`, and return it.

    Every step uses all samples (full batch). ``recipe`` is
    ``"levenberg-marquardt"`` (default, 100 steps) or ``"adam"`` (3000 steps,
    learning rate :math:`10^{-2}` cosine-decayed to :math:`10^{-5}`). The
    returned model maps a float32 ``(n, 2)`` array to shape ``(n, 1)``.
    """
    check_choice("interface", interface, INTERFACES)
    check_choice("recipe", recipe, RECIPES)
    steps = (
        DEFAULT_STEPS[recipe]
        if steps is None
        else check_int("steps", steps, 1)
    )
    check_activation(activation)
    layer_sizes, x, y = exercise_setup(width, depth, n_train, seed)
    if interface == "lowlevel":
        model = LowLevelMLP(layer_sizes, activation, seed)
        return fit_xtx_lowlevel(model, x, y, recipe, steps)
    network = keras_network(layer_sizes, activation, seed)
    return fit_xtx_keras(network, x, y, recipe, steps)


def fit_xtx_lowlevel(
    model: LowLevelMLP,
    x: np.ndarray,
    y: np.ndarray,
    recipe: str,
    steps: int,
) -> LowLevelMLP:
    """Low-level solution: ``tf.Variable`` s, a compiled step, a plain Python
    loop.

    :func:`fit_xtx` checks the arguments, draws the samples ``(x, y)`` and
    builds ``model`` first.
    """
    step = training_step(model, RECIPE_OPTIMIZERS[recipe], steps)
    x, y = tf.constant(x, model.dtype), tf.constant(y, model.dtype)
    for _ in range(steps):
        step(x, y)
    return model


def fit_xtx_keras(
    network: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    recipe: str,
    steps: int,
) -> keras.Model:
    """Keras solution: ``compile`` and ``fit`` on full batches.

    :func:`fit_xtx` checks the arguments, draws the samples ``(x, y)`` and
    builds ``network`` first.
    """
    if recipe == "levenberg-marquardt":
        model = LevenbergMarquardtModel(network)
        # The steps do not use the optimizer; plain SGD has no state to save.
        model.compile(
            optimizer="sgd",
            loss="mean_squared_error",
            jit_compile=False,
            steps_per_execution=steps,
        )
    else:
        model = network
        model.compile(
            optimizer=first_order_optimizer(RECIPE_OPTIMIZERS[recipe], steps),
            loss="mean_squared_error",
            steps_per_execution=steps,
        )
    # One epoch of `steps` full batches, all in one compiled call: Keras'
    # bookkeeping per epoch, and per call, would cost more than a step.
    full_batches = tf.data.Dataset.from_tensors((x, y)).repeat(steps)
    model.fit(full_batches, epochs=1, shuffle=False, verbose=0)
    return model
