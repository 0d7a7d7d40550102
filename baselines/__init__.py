"""Comparison decoders. Importing this package registers them."""

from baselines import gru, mlp, wiener  # noqa: F401
