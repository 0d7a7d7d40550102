"""Comparison decoders. Importing this package registers them."""

from baselines import mlp, recurrent, wiener  # noqa: F401
