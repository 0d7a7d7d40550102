"""Comparison decoders. Importing this package registers them."""

from baselines import mlp, ndt2, recurrent, wiener  # noqa: F401
