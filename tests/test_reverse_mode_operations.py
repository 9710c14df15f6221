"""Each operation of sciml_nn.reverse_mode_operations on its own: its forward rule against
TensorFlow's operation, its vector-Jacobian product against TensorFlow's tape, and its shape
check."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from sciml_nn.reverse_mode_operations import OPS, Activation

# Each op with the same function in TensorFlow and the shapes of its inputs and parameters.
REFERENCES = {
    "source": (lambda inputs, xi: xi[0], [], [(4, 3)]),
    "affine": (lambda inputs, xi: inputs[0] @ xi[0] + xi[1], [(5, 3)], [(3, 2), (2,)]),
    "add": (lambda inputs, xi: inputs[0] + inputs[1], [(4, 3), (4, 3)], []),
    "tanh": (lambda inputs, xi: tf.tanh(inputs[0]), [(4, 3)], []),
    "relu": (lambda inputs, xi: tf.nn.relu(inputs[0]), [(4, 3)], []),
    "sigmoid": (lambda inputs, xi: tf.sigmoid(inputs[0]), [(4, 3)], []),
    "squared_error": (
        lambda inputs, xi: tf.reduce_sum((inputs[0] - inputs[1]) ** 2),
        [(4, 3), (4, 3)],
        [],
    ),
}


def test_every_operation_has_a_reference():
    assert set(REFERENCES) == set(OPS)


@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("seed", [0, 1])
def test_forward_and_vjp_equal_tensorflow(name, seed):
    reference, input_shapes, xi_shapes = REFERENCES[name]
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal(shape) for shape in input_shapes]
    xi = [rng.standard_normal(shape) for shape in xi_shapes]
    op = OPS[name]
    out = op.forward(inputs, xi)
    assert op.shape([a.shape for a in inputs], [p.shape for p in xi]) == np.shape(out)
    lam = rng.standard_normal(np.shape(out))
    to_inputs, g = op.vjp(lam, inputs, xi, out)

    variables = [tf.Variable(a) for a in inputs + xi]
    with tf.GradientTape() as tape:
        out_tf = reference(variables[: len(inputs)], variables[len(inputs) :])
    expected = tape.gradient(out_tf, variables, output_gradients=tf.constant(lam))
    np.testing.assert_allclose(out, out_tf.numpy(), rtol=1e-14, atol=1e-15)
    for mine, theirs in zip(list(to_inputs) + list(g), expected, strict=True):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-13, atol=1e-15)


def test_a_new_activation_is_registered_by_name_and_slope():
    # softplus' = sigmoid = 1 - exp(-softplus), a function of the output alone
    softplus = Activation("softplus", lambda s: -np.expm1(-s))
    z = np.linspace(-4.0, 4.0, 9)
    variable = tf.Variable(z)
    with tf.GradientTape() as tape:
        out_tf = tf.nn.softplus(variable)
    out = softplus.forward([z], [])
    np.testing.assert_allclose(out, out_tf.numpy(), rtol=1e-14)
    (to_z,), _ = softplus.vjp(np.ones_like(z), [z], [], out)
    np.testing.assert_allclose(to_z, tape.gradient(out_tf, variable).numpy(), rtol=1e-12)


def test_bad_shapes_and_activations_raise():
    with pytest.raises(ValueError, match=r"needs x \(n, p\), W \(p, q\), b \(q,\)"):
        OPS["affine"].shape([(5, 3)], [(4, 2), (2,)])
    with pytest.raises(ValueError, match="needs two inputs of one shape"):
        OPS["add"].shape([(5, 3), (3, 5)], [])
    with pytest.raises(ValueError, match="activation must be one of"):
        Activation("cube", lambda s: 3 * s ** (2 / 3))
