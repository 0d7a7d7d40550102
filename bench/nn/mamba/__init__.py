"""Mamba-1 in pure PyTorch, state-dict compatible with mamba-ssm (whose CUDA kernel it uses when
installed): :mod:`.scan` the selective scan, :mod:`.block` the modules, :mod:`.stepper` streaming.

The names are re-exported so that ``from bench.nn.mamba import MambaStack`` keeps working.
"""

from bench.nn.mamba.block import Mamba, MambaBlock, MambaStack
from bench.nn.mamba.scan import mamba_ssm_available, selective_scan_time_major
from bench.nn.mamba.stepper import MambaStepper

__all__ = ["Mamba", "MambaBlock", "MambaStack", "MambaStepper", "mamba_ssm_available", "selective_scan_time_major"]
