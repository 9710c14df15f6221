"""Architectures taught through the numerical methods they mirror, one module
per architecture: residual networks as forward Euler
(:mod:`~sciml_nn.architectures.residual`), recurrent networks
(:mod:`~sciml_nn.architectures.recurrent`), convolutions as finite-difference
stencils (:mod:`~sciml_nn.architectures.convolution`), and graph convolutions
on meshes (:mod:`~sciml_nn.architectures.graphs`,
:mod:`~sciml_nn.architectures.meshes`)."""

from sciml_nn.architectures.convolution import (
    conv2d_multichannel,
    finite_difference_laplacian,
    laplacian_conv,
    laplacian_kernel,
)
from sciml_nn.architectures.graphs import GraphConv, graph_conv, grid_graph
from sciml_nn.architectures.recurrent import simple_rnn
from sciml_nn.architectures.residual import EulerResNet

__all__ = [
    "EulerResNet",
    "GraphConv",
    "conv2d_multichannel",
    "finite_difference_laplacian",
    "graph_conv",
    "grid_graph",
    "laplacian_conv",
    "laplacian_kernel",
    "simple_rnn",
]
