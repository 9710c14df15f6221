"""Physics-informed networks on two more problems: the Poisson equation on
the unit square, measured against the finite-difference solver, and an
inverse problem, a constant diffusivity recovered from noisy observations,
measured against a classical least-squares fit.

Code of the chapter *Physics-informed networks*
(``book/equations/physics-informed-networks.md``), its later sections; the
residuals, the network and the training are in
:mod:`sciml_nn.physics_informed_networks`.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.convolutional_networks_poisson import (
    poisson_solve,
    poisson_solve_1d,
)
from sciml_nn.core.checks import check_array, check_callable, check_int
from sciml_nn.core.device import time_callable
from sciml_nn.core.metrics import relative_error
from sciml_nn.physics_informed_networks import (
    Function,
    PINNSolution,
    dirichlet_ansatz,
    pinn_network,
    pinn_residuals,
    size_of,
    train_pinn,
)


def grid_points(n: int, d: int = 2, interior: bool = False) -> np.ndarray:
    """The points of an n x ... x n grid in the unit box, shape (n^d, d):
    cell centres :math:`(i + 1/2)/n`, or with ``interior`` the interior
    nodes :math:`i/(n + 1)`, :math:`i = 1, \\dots, n`, of a finite-difference
    grid; the last coordinate runs fastest."""
    n, d = check_int("n", n, 1), check_int("d", d, 1)
    if interior:
        line = np.arange(1, n + 1) / (n + 1)
    else:
        line = (np.arange(n) + 0.5) / n
    mesh = np.meshgrid(*[line] * d, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def solve_poisson_square_pinn(
    f: Function,
    *,
    seed: int = 0,
    points: int = 16,
    width: int = 12,
    steps: int = 60,
) -> PINNSolution:
    """Solve :math:`-\\Delta u = f` on the unit square with :math:`u = 0` on
    its boundary (:math:numref:`eq-poisson-2d`): the network in the ansatz
    :math:`u = x(1-x)\\,y(1-y)\\,N(x, y)` (:math:numref:`eq-ansatz`), trained
    by Levenberg-Marquardt on the residuals at the centres of a points x
    points grid. ``f`` maps a float64 tensor (n, 2) to (n, 1)."""
    check_callable("f", f)
    network = pinn_network(2, width, 2, seed=seed)
    u = dirichlet_ansatz(network)
    x = grid_points(points, 2)
    f_x = check_array("f(x)", f(tf.constant(x)), shape=(len(x), 1))
    history = train_pinn(
        pinn_residuals(u, scale=size_of(f_x)),
        network.trainable_variables,
        (tf.constant(x), tf.constant(f_x), tf.zeros(f_x.shape, tf.bool)),
        steps,
    )
    return PINNSolution(u, network, history)


def finite_difference_refinement(
    f: Function, exact: Function, target: float, sizes: Any = None
) -> list[dict[str, float]]:
    """Solve :math:`-\\Delta_h u = f`, the 5-point stencil
    :math:numref:`eq-laplacian-5`, by
    :func:`~sciml_nn.convolutional_networks_poisson.poisson_solve` on n x n
    interior grids, n = 8, 16, 32, ... (or ``sizes``), until the relative
    :math:`L^2` error at the nodes against ``exact`` is at most ``target``;
    one row per grid: n, unknowns, seconds (fastest of 3 solves), error."""
    check_callable("f", f)
    check_callable("exact", exact)
    rows = []
    for n in sizes or 2 ** np.arange(3, 12):
        n = int(n)
        x = tf.constant(grid_points(n, 2, interior=True))
        F = np.asarray(f(x)).reshape(n, n)
        U = np.asarray(exact(x)).reshape(n, n)
        seconds = time_callable(
            lambda F=F, n=n: poisson_solve(F, 1 / (n + 1)), repeats=3
        )["min"]
        error = relative_error(poisson_solve(F, 1 / (n + 1)), U)
        rows.append(
            {"n": n, "unknowns": n * n, "seconds": seconds, "error": error}
        )
        if error <= target:
            break
    return rows


def fit_diffusivity_pinn(
    f: Function,
    x_observed: np.ndarray,
    u_observed: np.ndarray,
    *,
    seed: int = 0,
    points: int = 64,
    width: int = 16,
    steps: int = 100,
    weight: float = 1.0,
) -> tuple[float, PINNSolution]:
    """Recover the constant :math:`\\kappa` of :math:`-\\kappa u'' = f`,
    :math:`u(0) = u(1) = 0` (:math:numref:`eq-inverse`) from observations
    :math:`u(x_j) \\approx y_j`: :math:`\\kappa` is one more trainable
    variable, next to the network's weights, of the residuals
    :func:`~sciml_nn.physics_informed_networks.pinn_residuals` at the
    ``points`` collocation points and the observation points. Returns
    :math:`\\kappa` and the solution."""
    check_callable("f", f)
    x_observed = check_array("x_observed", x_observed, shape=("n", 1))
    u_observed = check_array("u_observed", u_observed, shape=x_observed.shape)
    network = pinn_network(1, width, 2, seed=seed)
    u = dirichlet_ansatz(network)
    kappa = keras.Variable(1.0, dtype="float64", name="kappa")
    x = np.linspace(0, 1, check_int("points", points, 1) + 2)[1:-1, None]
    f_x = check_array("f(x)", f(tf.constant(x)), shape=(len(x), 1))
    # the equation's rows, then one row per observation
    on_data = np.r_[np.zeros_like(x), np.ones_like(x_observed)] > 0
    args = (np.r_[x, x_observed], np.r_[f_x, u_observed], on_data)
    history = train_pinn(
        pinn_residuals(u, kappa, weight, size_of(f_x)),
        [*network.trainable_variables, kappa],
        tuple(tf.constant(a) for a in args),
        steps,
    )
    return float(kappa.numpy()), PINNSolution(u, network, history)


def fit_diffusivity_least_squares(
    f: Function, x_observed: np.ndarray, u_observed: np.ndarray, n: int = 255
) -> float:
    """The classical estimate of :math:`\\kappa` in
    :math:numref:`eq-inverse`: the finite-difference solution :math:`v` of
    :math:`-v'' = f` on n interior nodes, interpolated to the observation
    points, gives :math:`u = v / \\kappa`, and least squares for
    :math:`1/\\kappa` has the closed form :math:`1/\\kappa = v^\\top y /
    v^\\top v`."""
    check_callable("f", f)
    x_observed = check_array("x_observed", x_observed, shape=("n", 1))
    y = check_array("u_observed", u_observed, shape=x_observed.shape)[:, 0]
    nodes = np.linspace(0, 1, check_int("n", n, 1) + 2)
    f_nodes = np.asarray(f(tf.constant(nodes[1:-1, None])))[:, 0]
    v_nodes = np.r_[0.0, poisson_solve_1d(f_nodes, nodes[1]), 0.0]
    v = np.interp(x_observed[:, 0], nodes, v_nodes)
    return float(v @ v / (v @ y))
