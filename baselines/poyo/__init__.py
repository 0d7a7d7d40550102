"""POYO (Azabou et al. 2023), streamed over a sliding context window.

``params`` (parameters and their defaults), ``model`` (the network), ``decoder`` (windows,
training, offline prediction and the streaming cache; registers ``poyo-ss`` and ``poyo-mp``).
"""

from baselines.poyo.decoder import POYOMP, POYOSS, POYODecoder
from baselines.poyo.model import END, SPIKE, START, POYONet
from baselines.poyo.params import POYOMPParams, POYOParams

__all__ = ["END", "POYOMP", "POYOSS", "SPIKE", "START", "POYODecoder", "POYOMPParams", "POYONet", "POYOParams"]
