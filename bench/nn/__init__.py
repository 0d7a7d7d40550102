"""Neural-network building blocks shared by the decoders (rotary attention, feed-forward, SSMs).

Kept import-free on purpose: import the submodule you need (``bench.nn.rotary``,
``bench.nn.feedforward``, ...) so that importing one block never pulls in the others.
"""
