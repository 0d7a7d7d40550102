"""The POSSM family (spike-token cross-attention + recurrent backbone). Importing registers them."""
