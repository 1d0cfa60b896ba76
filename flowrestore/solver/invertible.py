"""Backpropagation through a chain of invertible ops without storing their activations.

Putzky & Welling's trick, as the paper uses it (section V-B): the forward pass keeps
only the chain's output; the backward pass walks the ops in reverse, rebuilds each
op's input from its output with the op's inverse, recomputes that one op with
autograd on, and takes its local vector-Jacobian product. Peak memory is one op's
activations, whatever the depth.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import torch
from torch import Tensor, nn

State = tuple[Tensor, ...]


class InvertibleOp(Protocol):
    def forward(self, state: State) -> State: ...

    def inverse(self, state: State) -> State: ...

    def parameters(self) -> list[nn.Parameter]: ...


class Encode:
    """A flow layer run forwards (x -> z), its log-determinant dropped."""

    def __init__(self, layer: nn.Module):
        self.layer = layer

    def forward(self, state: State) -> State:
        return self.layer(state)[0]

    def inverse(self, state: State) -> State:
        return self.layer.inverse(state)

    def parameters(self) -> list[nn.Parameter]:
        return list(self.layer.parameters())


class Decode(Encode):
    """A flow layer run backwards (z -> x)."""

    def forward(self, state: State) -> State:
        return self.layer.inverse(state)

    def inverse(self, state: State) -> State:
        return self.layer(state)[0]


def run(ops: Sequence[InvertibleOp], state: State) -> State:
    for op in ops:
        state = op.forward(state)
    return state


class _InvertibleChain(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ops, x, *params):
        with torch.no_grad():
            (y,) = run(ops, (x,))
        ctx.ops = ops
        ctx.params = params
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (y,) = ctx.saved_tensors
        index = {id(p): i for i, p in enumerate(ctx.params)}
        param_grads: list[Tensor | None] = [None] * len(ctx.params)
        state: State = (y.detach(),)
        grads: tuple[Tensor | None, ...] = (grad_y,)
        for op in reversed(ctx.ops):
            with torch.no_grad():
                inputs = op.inverse(state)
            with torch.enable_grad():
                inputs = tuple(t.detach().requires_grad_(True) for t in inputs)
                outputs = op.forward(inputs)
                own = [p for p in op.parameters() if id(p) in index]
                pairs = [(o, g) for o, g in zip(outputs, grads) if g is not None and o.requires_grad]
                found = torch.autograd.grad(
                    [o for o, _ in pairs],
                    list(inputs) + own,
                    [g for _, g in pairs],
                    allow_unused=True,
                )
            grads = found[: len(inputs)]
            for p, g in zip(own, found[len(inputs) :]):
                if g is not None:
                    i = index[id(p)]
                    param_grads[i] = g if param_grads[i] is None else param_grads[i] + g
            state = tuple(t.detach() for t in inputs)
        (grad_x,) = grads
        return (None, grad_x, *param_grads)


def invertible_chain(ops: Sequence[InvertibleOp], x: Tensor) -> Tensor:
    """Run `ops` on x (a one-tensor state) with memory that does not grow with len(ops).

    Gradients reach x and every parameter of the ops that requires grad.
    """
    seen: dict[int, nn.Parameter] = {}
    for op in ops:
        for p in op.parameters():
            if p.requires_grad:
                seen.setdefault(id(p), p)
    return _InvertibleChain.apply(list(ops), x, *seen.values())
