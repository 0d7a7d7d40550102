"""The POSSM family (spike-token cross-attention + recurrent backbone). Importing registers them."""

from possm import decoder  # noqa: F401
