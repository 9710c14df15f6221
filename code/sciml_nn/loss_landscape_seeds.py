"""One network trained from many seeds at once, as a vectorized ensemble.

Code of the chapter *Training as regression and the loss landscape*
(``book/approximation/loss-landscape.md``), its section on many seeds; the
symmetries and slices of the landscape are in :mod:`sciml_nn.loss_landscape`.

The members' weights are stacked, :math:`W_k` of every member one slice of a
tensor of shape ``(S, n_{k-1}, n_k)``, so that one batched matrix product
evaluates all :math:`S` networks :math:numref:`eq-mlp` on the same inputs and
one optimizer trains them all, each member taking the steps it would take
alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import check_array, check_int
from sciml_nn.core.mlp import (
    Params,
    check_layer_sizes,
    init_mlp,
    sigma_tensorflow,
)
from sciml_nn.core.training import flat_variables


def init_ensemble(layer_sizes: Sequence[int], seeds: Sequence[int]) -> Params:
    """Stack the weights :func:`~sciml_nn.core.mlp.init_mlp` draws for each
    seed.

    Layer :math:`k` becomes :math:`W_k` of shape ``(S, n_{k-1}, n_k)`` and
    :math:`b_k` of shape ``(S, n_k)``, ``S = len(seeds)``: member :math:`s` is
    the network seed ``seeds[s]`` gives.
    """
    seeds = [check_int("seed", s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    members = [init_mlp(layer_sizes, s) for s in seeds]
    return [
        (np.stack([W for W, _ in layer]), np.stack([b for _, b in layer]))
        for layer in zip(*members)
    ]


def ensemble_forward(
    x: tf.Tensor, params: Params, activation: str = "tanh"
) -> tf.Tensor:
    """All members of the network :math:numref:`eq-mlp` at once: ``(n, n_0)``
    to ``(S, n, n_L)``.

    Member :math:`s` computes :math:`x_k = \\sigma(x_{k-1} W_k[s] + b_k[s])` as
    one batched matmul.
    """
    sigma = sigma_tensorflow(activation)
    # one copy of the data broadcasts to all members
    h = tf.convert_to_tensor(x)[None]
    *hidden, (W_out, b_out) = params
    for W, b in hidden:
        h = sigma(tf.matmul(h, W) + b[:, None, :])
    return tf.matmul(h, W_out) + b_out[:, None, :]


def member_losses(
    x: tf.Tensor, y: tf.Tensor, params: Params, activation: str
) -> tf.Tensor:
    """:math:numref:`eq-mse` of each member, shape ``(S,)``."""
    return tf.reduce_mean(
        tf.square(ensemble_forward(x, params, activation) - y), axis=(1, 2)
    )


def check_samples(
    layer_sizes: list[int], x: np.ndarray, y: np.ndarray, suffix: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Return samples ``x`` of shape ``(n, n_0)`` and targets ``y`` of shape
    ``(n, n_L)`` as float32; ``suffix`` ends their names in messages."""
    x = check_array(f"x{suffix}", x, (None, layer_sizes[0]), np.float32)
    y = check_array(f"y{suffix}", y, (len(x), layer_sizes[-1]), np.float32)
    return x, y


def train_seeds(
    layer_sizes: Sequence[int],
    x: np.ndarray,
    y: np.ndarray,
    seeds: Sequence[int],
    steps: int,
    learning_rate: float
    | keras.optimizers.schedules.LearningRateSchedule = 1e-2,
    activation: str = "tanh",
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    records: int = 20,
    jit_compile: bool = False,
) -> dict[str, np.ndarray | Params]:
    """Train one network per seed with full-batch Adam, all seeds as one
    vectorized ensemble.

    The sum of the members' losses :math:numref:`eq-mse` has, for member
    :math:`s`, the gradient of its own loss, and Adam works entry by entry, so
    each member takes exactly the steps it would take alone. Returns the final
    ``train_loss`` and, given test data, ``test_loss`` (shape ``(S,)``),
    ``history`` (the training losses after each of ``records`` equal stretches
    of steps, shape ``(records, S)``) and the trained ``params``. With
    ``jit_compile``, XLA compiles the loop and fuses the many small
    operations of a step (the same steps, rounded differently).
    """
    layer_sizes = check_layer_sizes(layer_sizes)
    steps, records = (
        check_int("steps", steps, 1),
        check_int("records", records, 1),
    )
    x, y = check_samples(layer_sizes, x, y)
    if not isinstance(jit_compile, bool):
        raise TypeError(
            f"jit_compile must be a bool; got {type(jit_compile).__name__}"
        )
    xi = tf.nest.map_structure(tf.Variable, init_ensemble(layer_sizes, seeds))
    variables = flat_variables(xi)
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(variables)  # its moments exist before the graph loop

    @tf.function(jit_compile=jit_compile)
    def train(stretch: tf.Tensor) -> tf.Tensor:
        # the loop runs as one graph, no Python per step
        for _ in tf.range(stretch):
            with tf.GradientTape() as tape:
                total = tf.reduce_sum(member_losses(x, y, xi, activation))
            optimizer.apply_gradients(
                zip(tape.gradient(total, variables), variables)
            )
        return member_losses(x, y, xi, activation)

    ends = np.linspace(0, steps, min(records, steps) + 1).astype(int)
    history = np.stack(
        [train(tf.constant(stretch)).numpy() for stretch in np.diff(ends)]
    )
    result = {"train_loss": history[-1], "history": history}
    if x_test is not None or y_test is not None:
        x_test, y_test = check_samples(layer_sizes, x_test, y_test, "_test")
        result["test_loss"] = member_losses(
            x_test, y_test, xi, activation
        ).numpy()
    result["params"] = [(W.numpy(), b.numpy()) for W, b in xi]
    return result


def member(params: Params, index: int) -> Params:
    """The ``(W, b)`` pairs of member ``index`` of a stacked ensemble (see
    :func:`init_ensemble`)."""
    index = check_int("index", index, 0)
    if index >= len(params[0][0]):
        raise ValueError(
            f"index must be below the ensemble size {len(params[0][0])}; got "
            f"{index}"
        )
    return [(W[index], b[index]) for W, b in params]
