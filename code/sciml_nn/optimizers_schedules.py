"""Learning-rate schedules written from scratch: exponential, cosine and step
decay.

Code of the chapter *Optimizers* (``book/optimization/optimizers.md``), its
second module, as ``keras.optimizers.schedules`` is Keras' second module of
optimizers.

Each schedule takes the argument names, defaults and formulas of its namesake
in ``keras.optimizers.schedules`` and is a callable of the step :math:`k` (an
int or a tensor of steps), so it serves as the learning rate of any optimizer
of :mod:`sciml_nn.optimizers` or of Keras.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import check_float, check_int


class DecaySchedule:
    """What the decaying schedules share: the initial learning rate
    :math:`\\eta_0` and the number of steps :math:`K` of the decay."""

    def __init__(self, initial_learning_rate: float, decay_steps: int) -> None:
        self.initial_learning_rate = check_float(
            "initial_learning_rate", initial_learning_rate, 0
        )
        self.decay_steps = check_int("decay_steps", decay_steps, 1)


class ExponentialDecay(DecaySchedule):
    """:math:`\\eta_k = \\eta_0 \\, r^{k / K}`, or :math:`r^{\\lfloor k / K
    \\rfloor}` with ``staircase`` (eq. :math:numref:`eq-exponential-decay`), as
    Keras' schedule of the same name."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
    ) -> None:
        super().__init__(initial_learning_rate, decay_steps)
        self.decay_rate = check_float(
            "decay_rate", decay_rate, 0, low_open=True
        )
        self.staircase = bool(staircase)

    def __call__(self, step: tf.Tensor | int) -> tf.Tensor:
        p = tf.cast(step, tf.float32) / float(self.decay_steps)
        if self.staircase:
            p = tf.floor(p)
        return self.initial_learning_rate * tf.pow(
            tf.constant(self.decay_rate, tf.float32), p
        )


class CosineDecay(DecaySchedule):
    """:math:`\\eta_k = \\eta_0 \\big((1 - \\alpha) \\tfrac12 (1 + \\cos(\\pi
    \\min(k, K) / K)) + \\alpha\\big)` (eq. :math:numref:`eq-cosine-decay`),
    Keras' schedule without warm-up."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
    ) -> None:
        super().__init__(initial_learning_rate, decay_steps)
        self.alpha = check_float("alpha", alpha, 0, 1)

    def __call__(self, step: tf.Tensor | int) -> tf.Tensor:
        K = float(self.decay_steps)
        k = tf.minimum(tf.cast(step, tf.float32), K)
        cosine = 0.5 * (1.0 + tf.cos(tf.constant(np.pi, tf.float32) * (k / K)))
        return self.initial_learning_rate * (
            (1 - self.alpha) * cosine + self.alpha
        )


class PiecewiseConstantDecay:
    """Step decay: :math:`\\eta_k` = ``values[i]`` for ``boundaries[i-1]``
    :math:`< k \\le` ``boundaries[i]`` (eq. :math:numref:`eq-step-decay`), as
    Keras' schedule of the same name. Like the other schedules it takes a
    step or a tensor of steps."""

    def __init__(
        self, boundaries: Sequence[int], values: Sequence[float]
    ) -> None:
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                "values must have one more entry than boundaries; got "
                f"{len(boundaries)} boundaries and {len(values)} values"
            )
        if any(b >= c for b, c in itertools.pairwise(boundaries)):
            raise ValueError(
                f"boundaries must increase strictly; got {boundaries}"
            )
        self.boundaries = [
            check_int("boundaries[i]", b, 0) for b in boundaries
        ]
        self.values = [check_float("values[i]", v, 0) for v in values]

    def __call__(self, step: tf.Tensor | int) -> tf.Tensor:
        boundaries = tf.constant(self.boundaries, tf.int64)
        passed = tf.cast(step, tf.int64)[..., None] > boundaries
        interval = tf.reduce_sum(tf.cast(passed, tf.int32), axis=-1)
        return tf.gather(tf.constant(self.values, tf.float32), interval)
