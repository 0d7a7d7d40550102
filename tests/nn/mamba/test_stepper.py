"""The streaming stepper equals the full-sequence forward of the stack at every step."""

import pytest
import torch

from bench.nn.mamba import MambaStack, MambaStepper


def _perturbed_stack(layers: int, dtype=torch.float32, seed: int = 0) -> MambaStack:
    torch.manual_seed(seed)
    stack = MambaStack(16, n_layers=layers, d_state=4, d_conv=3).to(dtype).eval()
    with torch.no_grad():
        for p in stack.parameters():  # move away from the init so every parameter matters
            p.add_(0.05 * torch.randn_like(p))
    return stack


def _stream(stepper: MambaStepper, x: torch.Tensor):
    state = stepper.init_state(x.shape[0])
    ys = []
    for t in range(x.shape[1]):
        y, state = stepper.step(x[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1), state


@pytest.mark.parametrize("layers,L", [(1, 1), (1, 40), (2, 5), (2, 40)])
def test_stepper_equals_forward(layers, L):
    stack = _perturbed_stack(layers)
    x = torch.randn(3, L, 16)
    with torch.no_grad():
        offline = stack(x)
        streamed, state = _stream(MambaStepper(stack), x)
    assert offline.abs().max() > 0.1
    assert torch.allclose(streamed, offline, atol=1e-5), (streamed - offline).abs().max()
    # the state does not grow with the number of steps: a ring of d_conv inputs (+ the bias
    # slot) and the SSM state, per layer
    assert [(tuple(r.shape), tuple(s.shape)) for r, s, _ in state] == [((4, 3, 32), (3, 32, 4))] * layers


def test_stepper_float64_is_exact():
    stack = _perturbed_stack(2, dtype=torch.float64, seed=3)
    x = torch.randn(2, 12, 16, dtype=torch.float64)
    with torch.no_grad():
        streamed, state = _stream(MambaStepper(stack), x)
        assert state[0][1].dtype == torch.float64
        assert torch.allclose(streamed, stack(x), atol=1e-12)


def test_streams_are_independent():
    """Each init_state is a fresh stream: stepping one does not disturb another."""
    stack = _perturbed_stack(1, seed=4)
    stepper = MambaStepper(stack)
    x = torch.randn(1, 6, 16)
    with torch.no_grad():
        first, _ = _stream(stepper, x)
        other = stepper.init_state(1)
        stepper.step(torch.randn(1, 16), other)
        second, _ = _stream(stepper, x)
    assert torch.equal(first, second)
