"""Backprop beyond vectors: gradients in inner-product spaces and the adjoint
of a Neural ODE.

This is the code of the chapter *Backprop beyond vectors: the adjoint method*.
The gradient of :math:`J` is the Riesz representer of its derivative in the
chosen inner product (:math:numref:`eq-riesz`), and the reverse pass applies
adjoints (:math:numref:`eq-adjoint-map`). For the Neural ODE :math:`du/dt =
f(u, \\xi)` (:math:numref:`eq-neural-ode`) the gradient of :math:`J(u(T))` is
computed two ways: by ``tf.GradientTape`` through every stage of an RK4 solver
(:math:numref:`eq-rk4`), and by solving the continuous adjoint equations
(:math:numref:`eq-adjoint-ode`, :math:numref:`eq-adjoint-gradient`) backward in
time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from sciml_nn.checks import check_int
from sciml_nn.networks import check_layer_sizes, init_mlp, mlp_tensorflow

Xi = list[tuple[tf.Variable, tf.Variable]]
Nest = Any  # a tensor, or a tuple/list of them, as tf.nest understands it


# ------------------------------------------------- inner products and adjoints


def _check_gram(name: str, M: np.ndarray, n: int | None = None) -> np.ndarray:
    M = np.asarray(M, dtype=np.float64)
    if (
        M.ndim != 2
        or M.shape[0] != M.shape[1]
        or (n is not None and M.shape[0] != n)
    ):
        expected = f"({n}, {n})" if n is not None else "(n, n)"
        raise ValueError(f"{name} must have shape {expected}; got {M.shape}")
    if not np.allclose(M, M.T):
        raise ValueError(
            f"{name} must be symmetric, the Gram matrix of an inner product"
        )
    return M


def riesz_gradient(partials: np.ndarray, M: np.ndarray) -> np.ndarray:
    """The gradient in the inner product :math:`\\langle a, b \\rangle_M = a^T
    M b`.

    ``partials`` holds :math:`\\partial J / \\partial u_i`, so :math:`DJ[v] =
    \\sum_i (\\partial J/\\partial u_i) v_i`; the representer :math:`g` with
    :math:`\\langle g, v \\rangle_M = DJ[v]` for every :math:`v`
    (:math:numref:`eq-riesz`) solves :math:`M g = \\partial J/\\partial u`.
    """
    partials = np.asarray(partials, dtype=np.float64)
    if partials.ndim != 1:
        raise ValueError(
            f"partials must have shape (n,); got {partials.shape}"
        )
    M = _check_gram("M", M, partials.shape[0])
    return np.linalg.solve(M, partials)


def adjoint_operator(
    A: np.ndarray, M_in: np.ndarray, M_out: np.ndarray
) -> np.ndarray:
    """The adjoint :math:`A^* = M_{in}^{-1} A^T M_{out}` of :math:`A`
    (:math:numref:`eq-adjoint-map`).

    :math:`A` maps a space with Gram matrix ``M_in`` to one with ``M_out``, and
    :math:`A^*` is the map with :math:`\\langle \\lambda, A v \\rangle_{out} =
    \\langle A^* \\lambda, v \\rangle_{in}` for all :math:`v, \\lambda`.
    """
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2:
        raise ValueError(f"A must be a matrix of shape (m, n); got {A.shape}")
    M_in = _check_gram("M_in", M_in, A.shape[1])
    M_out = _check_gram("M_out", M_out, A.shape[0])
    return np.linalg.solve(M_in, A.T @ M_out)


def trapezoid_weights(x: np.ndarray) -> np.ndarray:
    """Weights :math:`w_i` of the trapezoid rule on nodes ``x``: :math:`\\int
    u\\,dx \\approx \\sum_i w_i u_i`, so :math:`M = \\mathrm{diag}(w)` is the
    Gram matrix of the :math:`L^2` inner product of grid functions
    (:math:numref:`eq-weighted-inner-product`)."""
    x = _check_grid(x)
    dx = np.diff(x)
    return np.concatenate([[0.0], dx]) / 2 + np.concatenate([dx, [0.0]]) / 2


def cumulative_integral_matrix(x: np.ndarray) -> np.ndarray:
    """The matrix :math:`A` of :math:`(Av)_i = \\int_{x_0}^{x_i} v\\,dx` by the
    trapezoid rule."""
    x = _check_grid(x)
    A = np.zeros((x.size, x.size))
    for i in range(1, x.size):
        A[i] = A[i - 1]
        A[i, i - 1 : i + 1] += (x[i] - x[i - 1]) / 2
    return A


def _check_grid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size < 2 or np.any(np.diff(x) <= 0):
        raise ValueError(
            "x must be an increasing 1-D grid of at least 2 nodes; got shape "
            f"{x.shape}"
        )
    return x


# ------------------------------------------------------ the Neural ODE and RK4


def init_vector_field(
    layer_sizes: Sequence[int] = (2, 16, 2), seed: int = 0
) -> Xi:
    """Parameters :math:`\\xi` of the vector field :math:`f(u, \\xi)`: float64
    ``tf.Variable`` pairs.

    Weights are Glorot-uniform (:func:`~sciml_nn.networks.init_mlp`); biases
    are drawn from :math:`U(-0.5, 0.5)` instead of zero so that :math:`f(0,
    \\xi) \\ne 0` and every parameter moves the flow from the start.
    """
    sizes = check_layer_sizes(layer_sizes)
    if sizes[0] != sizes[-1]:
        raise ValueError(
            "a vector field maps R^d to R^d: first and last sizes must "
            "agree; "
            f"got {sizes}"
        )
    rng = np.random.default_rng(check_int("seed", seed, 0) + 1)
    return [
        (
            tf.Variable(W.astype(np.float64), name=f"W_{k}"),
            tf.Variable(rng.uniform(-0.5, 0.5, size=b.shape), name=f"b_{k}"),
        )
        for k, (W, b) in enumerate(init_mlp(sizes, seed), start=1)
    ]


def vector_field(u: tf.Tensor, xi: Xi) -> tf.Tensor:
    """:math:`f(u, \\xi)` of :math:numref:`eq-neural-ode`: the tanh MLP
    :math:numref:`eq-mlp` applied to one state ``u`` of shape ``(d,)``."""
    u = tf.convert_to_tensor(u)
    d = xi[0][0].shape[0]
    if u.shape.rank != 1 or u.shape[0] != d:
        raise ValueError(
            f"u must have shape ({d},) to match the vector field; got "
            f"{tuple(u.shape)}"
        )
    return mlp_tensorflow(u[tf.newaxis, :], xi, activation="tanh")[0]


def terminal_objective(u_T: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """:math:`J(u(T)) = \\tfrac12 \\|u(T) - u^\\star\\|^2`
    (:math:numref:`eq-objective`)."""
    return 0.5 * tf.reduce_sum(tf.square(u_T - target))


def _axpy(u: Nest, a: tf.Tensor, k: Nest) -> Nest:
    return tf.nest.map_structure(lambda u_i, k_i: u_i + a * k_i, u, k)


def rk4_step(f: Callable[[Nest], Nest], u: Nest, h: tf.Tensor) -> Nest:
    """One classical Runge-Kutta step :math:numref:`eq-rk4` for :math:`du/dt =
    f(u)`.

    ``u`` may be a tensor or a nest of them (the adjoint's augmented state).
    """
    k1 = f(u)
    k2 = f(_axpy(u, h / 2, k1))
    k3 = f(_axpy(u, h / 2, k2))
    k4 = f(_axpy(u, h, k3))
    return tf.nest.map_structure(
        lambda u_i, a, b, c, d: u_i + h / 6 * (a + 2 * b + 2 * c + d),
        u,
        k1,
        k2,
        k3,
        k4,
    )


def _rk4_loop(
    f: Callable[[Nest], Nest], u0: Nest, T: tf.Tensor, steps: tf.Tensor
) -> Nest:
    # tf.range makes the loop a tf.while_loop inside tf.function: one traced
    # step, any steps.
    h = T / tf.cast(steps, T.dtype)
    u = u0
    for _ in tf.range(steps):
        u = rk4_step(f, u, h)
    return u


def _check_T(T: float) -> float:
    if isinstance(T, bool) or not isinstance(
        T, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"T must be a real number; got {type(T).__name__}")
    if not math.isfinite(T) or T <= 0:
        raise ValueError(f"T must be a positive, finite time; got {T}")
    return float(T)


def _check_float(name: str, x: Any) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise TypeError(
            f"{name} must hold floats (float32 or float64); got {x.dtype.name}"
        )
    return x


def rk4_solve(
    f: Callable[[tf.Tensor], tf.Tensor], u0: Any, T: float, steps: int
) -> tf.Tensor:
    """:math:`u_N \\approx u(T)` after ``steps`` RK4 steps
    :math:numref:`eq-rk4` of size :math:`h = T/N` from :math:`u(0) = u_0`, for
    :math:`du/dt = f(u)`; global error :math:`O(h^4)`."""
    if not callable(f):
        raise TypeError(f"f must be callable; got {type(f).__name__}")
    T, steps = _check_T(T), check_int("steps", steps, 1)
    u0 = _check_float("u0", u0)
    f_u0 = tf.convert_to_tensor(f(u0))
    if f_u0.shape != u0.shape:
        raise ValueError(
            f"f(u0) must have the shape of u0, {tuple(u0.shape)}; "
            f"got {tuple(f_u0.shape)}"
        )
    return _rk4_loop(f, u0, tf.constant(T, u0.dtype), tf.constant(steps))


# ----------------------------------------------------------- the two gradients


def _through_solver(
    u0: tf.Tensor, xi: Xi, T: tf.Tensor, steps: tf.Tensor, target: tf.Tensor
) -> tuple:
    with tf.GradientTape() as tape:
        tape.watch(u0)
        u_T = _rk4_loop(lambda u: vector_field(u, xi), u0, T, steps)
        J = terminal_objective(u_T, target)
    dJ_dxi, dJ_du0 = tape.gradient(J, [xi, u0])
    return J, dJ_dxi, dJ_du0


def _adjoint(
    u0: tf.Tensor, xi: Xi, T: tf.Tensor, steps: tf.Tensor, target: tf.Tensor
) -> tuple:
    # keep u(T) only
    u_T = _rk4_loop(lambda u: vector_field(u, xi), u0, T, steps)
    J = terminal_objective(u_T, target)
    lam_T = u_T - target  # dJ/du(T), the final condition of eq-adjoint-ode

    def backward(state: tuple) -> tuple:
        # d/ds of (u, lam, g) in reversed time s = T - t: the signs of
        # eq-adjoint-ode flip.
        u, lam, _ = state
        with tf.GradientTape() as tape:
            tape.watch(u)
            f = vector_field(u, xi)
        lam_df_du, lam_df_dxi = tape.gradient(f, [u, xi], output_gradients=lam)
        return (-f, lam_df_du, lam_df_dxi)

    g_0 = tf.nest.map_structure(tf.zeros_like, xi)
    _, lam_0, dJ_dxi = _rk4_loop(backward, (u_T, lam_T, g_0), T, steps)
    return J, dJ_dxi, lam_0


_through_solver_graph = tf.function(_through_solver)
_adjoint_graph = tf.function(_adjoint)


def _check_problem(
    u0: Any, xi: Xi, T: float, steps: int, target: Any
) -> tuple:
    if (
        not isinstance(xi, (list, tuple))
        or not xi
        or not all(
            isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in xi
        )
    ):
        raise TypeError(
            "xi must be a list of (W, b) pairs, as init_vector_field returns"
        )
    dtype = xi[0][0].dtype
    d = xi[0][0].shape[0]
    T, steps = _check_T(T), check_int("steps", steps, 1)
    u0, target = _check_float("u0", u0), _check_float("target", target)
    for name, x in (("u0", u0), ("target", target)):
        if x.shape != (d,):
            raise ValueError(
                f"{name} must have shape ({d},) to match the vector field; "
                f"got {tuple(x.shape)}"
            )
    u0, target = tf.cast(u0, dtype), tf.cast(target, dtype)
    return u0, xi, tf.constant(T, dtype), tf.constant(steps), target


def gradient_through_solver(
    u0: Any, xi: Xi, T: float, steps: int, target: Any
) -> tuple:
    """:math:`J`, :math:`dJ/d\\xi` and :math:`dJ/du_0` by ``tf.GradientTape``
    through ``steps`` RK4 steps :math:numref:`eq-rk4`: the exact gradient of
    the discrete :math:`J(u_N)`.

    The tape keeps every stage of every step for the reverse pass: memory grows
    like ``steps``.
    """
    return _through_solver_graph(*_check_problem(u0, xi, T, steps, target))


def adjoint_gradient(
    u0: Any, xi: Xi, T: float, steps: int, target: Any
) -> tuple:
    """:math:`J`, :math:`dJ/d\\xi` and :math:`\\lambda(0)` from the continuous
    adjoint.

    After a forward RK4 solve that keeps only :math:`u(T)`, the augmented state
    :math:`(u, \\lambda, g)` is integrated from :math:`T` back to :math:`0`
    with ``steps`` RK4 steps: :math:`u` by :math:numref:`eq-neural-ode` re-run
    backward, :math:`\\lambda` by :math:numref:`eq-adjoint-ode`, :math:`g`
    accumulating :math:numref:`eq-adjoint-gradient`. Memory does not depend on
    ``steps``.
    """
    return _adjoint_graph(*_check_problem(u0, xi, T, steps, target))


# ----------------------------------------------------------- measuring the two


def as_vector(gradient: Nest) -> np.ndarray:
    """All entries of a gradient (a tensor or a nest of them) as one float64
    vector."""
    return np.concatenate(
        [
            np.ravel(np.asarray(g, dtype=np.float64))
            for g in tf.nest.flatten(gradient)
        ]
    )


def observed_order(steps: Sequence[int], errors: Sequence[float]) -> float:
    """:math:`p` in :math:`e \\approx C N^{-p}`: minus the least-squares slope
    of :math:`\\log e` against :math:`\\log N`."""
    steps, errors = (
        np.asarray(steps, dtype=np.float64),
        np.asarray(errors, dtype=np.float64),
    )
    if steps.shape != errors.shape or steps.ndim != 1 or steps.size < 2:
        raise ValueError(
            f"steps and errors must be 1-D of the same length >= 2; "
            f"got {steps.shape} and {errors.shape}"
        )
    if np.any(steps <= 0) or np.any(errors <= 0):
        raise ValueError(
            "steps and errors must be positive to take logarithms"
        )
    return float(-np.polyfit(np.log(steps), np.log(errors), 1)[0])


def stored_floats_per_step(method: str, xi: Xi) -> int:
    """Floats TensorFlow keeps per RK4 step for the reverse pass, read from the
    traced graph.

    Inside ``tf.function`` the tape turns every value the reverse pass needs
    from a loop step into a tensor list that grows by one element per step; we
    sum the sizes of those elements. ``method`` is ``"through solver"`` or
    ``"adjoint"``.
    """
    graphs = {
        "through solver": _through_solver_graph,
        "adjoint": _adjoint_graph,
    }
    if method not in graphs:
        raise ValueError(
            f"method must be one of {tuple(graphs)}; got {method!r}"
        )
    d = xi[0][0].shape[0]
    args = _check_problem(np.zeros(d), xi, 1.0, 1, np.zeros(d))
    graph = graphs[method].get_concrete_function(*args).graph
    return sum(
        # the element shape, [] for a scalar
        int(np.prod(tf.get_static_value(op.inputs[0])))
        for op in graph.get_operations()
        if op.type == "EmptyTensorList"
    )
