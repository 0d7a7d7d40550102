"""Comparison decoders. Importing this package registers them."""

from baselines import mlp, ndt2, poyo, recurrent, wiener  # noqa: F401
