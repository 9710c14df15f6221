"""The Poisson surrogate: the sine-transform solver against a sparse direct solve and the
finite-difference Laplacian, training that lowers the error, and the argument checks."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.linalg import solve_banded
from scipy.sparse.linalg import spsolve

from sciml_nn.convolutional_networks import finite_difference_laplacian
from sciml_nn.convolutional_networks_poisson import (
    convnet_surrogate,
    dirichlet_laplacian_eigenvalues,
    fit_surrogate,
    poisson_pairs,
    poisson_solve,
    poisson_solve_1d,
)
from sciml_nn.core.metrics import relative_error


def test_poisson_solve_matches_sparse_direct_solve():
    ny, nx, h = 7, 5, 0.1
    f = np.random.default_rng(0).normal(size=(ny, nx))
    second_difference = lambda m: sp.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(m, m)) / h**2
    A = sp.kron(second_difference(ny), sp.eye(nx)) + sp.kron(sp.eye(ny), second_difference(nx))
    reference = spsolve(-A.tocsc(), f.ravel()).reshape(ny, nx)
    np.testing.assert_allclose(poisson_solve(f, h), reference, atol=1e-12)
    f_batch, u_batch = poisson_pairs(3, 8, seed=1)
    np.testing.assert_allclose(
        -finite_difference_laplacian(u_batch[..., 0], 1 / 9), f_batch[..., 0], atol=1e-10
    )


def test_eigenvalues_and_1d_solve_match_the_tridiagonal_matrix():
    n, h = 9, 0.1
    T = (np.diag(2 * np.ones(n)) - np.diag(np.ones(n - 1), 1) - np.diag(np.ones(n - 1), -1)) / h**2
    np.testing.assert_allclose(
        dirichlet_laplacian_eigenvalues(n, h), np.linalg.eigvalsh(T), rtol=1e-13
    )
    f = np.random.default_rng(2).normal(size=(3, n))
    bands = np.array([-np.ones(n), 2 * np.ones(n), -np.ones(n)]) / h**2
    reference = np.array([solve_banded((1, 1), bands, row) for row in f])
    np.testing.assert_allclose(poisson_solve_1d(f, h), reference, atol=1e-13)
    np.testing.assert_allclose(poisson_solve_1d(f[1], h), reference[1], atol=1e-13)


@pytest.mark.parametrize("batch_size", [16, 12])
def test_surrogate_shapes_and_training_lowers_the_error(batch_size):
    # batch_size 12 leaves a smaller last batch in every epoch
    f, u = poisson_pairs(32, 16, seed=0)
    model = convnet_surrogate(16, 4, output_scale=float(u.std()), seed=0)
    assert model(f[:2].astype(np.float32)).shape == (2, 16, 16, 1)
    before = relative_error(np.asarray(model(f.astype(np.float32))), u, per_sample=True)
    losses = fit_surrogate(model, f, u, epochs=20, batch_size=batch_size, learning_rate=3e-3)
    after = relative_error(np.asarray(model(f.astype(np.float32))), u, per_sample=True)
    assert losses.shape == (20,)
    assert losses[-1] < 0.3 * losses[0] and after.mean() < 0.7 * before.mean()


def test_bad_arguments():
    with pytest.raises(ValueError, match="size must be a multiple of 8"):
        convnet_surrogate(12)
    with pytest.raises(ValueError, match=r"u must have shape \(10, 8, 8, 1\); got"):
        fit_surrogate(convnet_surrogate(8, 2), np.zeros((10, 8, 8, 1)), np.zeros((10, 8, 8)))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        fit_surrogate(
            convnet_surrogate(8, 2), np.zeros((10, 8, 8, 1)), np.zeros((10, 8, 8, 1)), batch_size=0
        )
    with pytest.raises(ValueError, match=r"f must have shape \(ny, nx\) or \(n, ny, nx\)"):
        poisson_solve(np.zeros(3), 0.1)
    with pytest.raises(ValueError, match=r"h must be a finite number > 0.0"):
        poisson_solve(np.zeros((3, 3)), 0.0)
    with pytest.raises(ValueError, match=r"f must have shape \(n,\) or \(m, n\)"):
        poisson_solve_1d(np.zeros((2, 3, 3)), 0.1)
    with pytest.raises(ValueError, match="f must be finite"):
        poisson_solve_1d(np.array([1.0, np.nan]), 0.1)
    with pytest.raises(ValueError, match="n must be a positive int"):
        dirichlet_laplacian_eigenvalues(0, 0.1)
