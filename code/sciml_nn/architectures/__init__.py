"""Architectures taught through the numerical methods they mirror, one module per architecture:
residual networks as forward Euler (:mod:`~sciml_nn.architectures.residual`), recurrent networks
(:mod:`~sciml_nn.architectures.recurrent`) and graph convolutions
(:mod:`~sciml_nn.architectures.graphs`)."""

from sciml_nn.architectures.graphs import GraphConv, graph_conv, grid_graph
from sciml_nn.architectures.recurrent import simple_rnn
from sciml_nn.architectures.residual import EulerResNet

__all__ = ["EulerResNet", "GraphConv", "graph_conv", "grid_graph", "simple_rnn"]
