"""POYO (Azabou et al. 2023), streamed over a sliding context window.

``params`` (parameters and their defaults), ``model`` (the network), ``decoder`` (windows,
training, offline prediction and the streaming cache; registers ``poyo-ss`` and ``poyo-mp``).
"""

from baselines.poyo.decoder import POYODecoder
from baselines.poyo.model import END, SPIKE, START, POYONet
from baselines.poyo.params import POYOParams

__all__ = ["END", "SPIKE", "START", "POYODecoder", "POYONet", "POYOParams"]
