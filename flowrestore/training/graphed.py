"""One training step recorded once as a CUDA graph and replayed.

The unrolled solver's fine-tune step is launch-bound on a GPU: thousands of small kernels whose
launches, not their work, set the pace (docs/training.md, "Throughput"). A replayed graph launches the
whole step (forward, loss, backward, gradient clipping, optimiser step) at once.

A graph replays fixed memory and fixed arguments, which shapes this module:
- the step's inputs are copied into static tensors before each replay;
- the optimiser must be capturable (its step counts live on the device);
- its learning rates are baked into the recording, so the step is recorded again when they change;
- recording runs the step a few times first (CUDA's warm-up on a side stream). Those runs are undone
  (weights and optimiser state put back in place), so training takes exactly the steps an eager loop
  would.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

Body = Callable[[], None]
Capture = Callable[[Body], Body]  # runs the body's warm-up, records it, returns what replays it
WARMUP_RUNS = 3


def cuda_capture(body: Body) -> Body:
    """`body` warmed up on a side stream, recorded as a CUDA graph; returns the graph's replay."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(WARMUP_RUNS):
            body()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        body()
    return graph.replay


def make_capturable(optimizer: torch.optim.Optimizer) -> None:
    """Let an optimiser on a GPU be recorded: capturable, with its step counts on the device.
    (A loaded state brings its own flags; an optimiser on the CPU is left as it is: CPUs have no graphs.)"""
    for group in optimizer.param_groups:
        if "capturable" not in group:
            raise ValueError(f"{type(optimizer).__name__} cannot be recorded in a CUDA graph")
        if all(p.device.type == "cpu" for p in group["params"]):
            continue
        group["capturable"] = True
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            if isinstance(state.get("step"), Tensor) and state["step"].device != p.device:
                state["step"] = state["step"].to(p.device, torch.float32)


class GraphedStep:
    """`step(**inputs)` trains once on `inputs` and returns the loss (a tensor the next step overwrites).

    `loss_fn(**inputs)` computes the loss from the model; the model's parameters are those of the
    optimiser. Inputs keep their names, shapes and dtypes from step to step (a change records anew).
    """

    def __init__(self, loss_fn: Callable[..., Tensor], optimizer: torch.optim.Optimizer,
                 max_grad_norm: float | None = None, capture: Capture = cuda_capture):
        self.loss_fn, self.optimizer, self.max_grad_norm, self.capture = loss_fn, optimizer, max_grad_norm, capture
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.recordings = 0  # how many times the step was recorded
        self.reset()

    def reset(self) -> None:
        """Record again at the next step (after the optimiser or the weights were replaced, e.g. a resume)."""
        self._replay: Body | None = None
        self._static: dict[str, Tensor] = {}
        self._key: tuple = ()
        self.loss: Tensor | None = None

    def _lrs(self) -> tuple:
        return tuple(float(group["lr"]) for group in self.optimizer.param_groups)

    def __call__(self, **inputs: Tensor) -> Tensor:
        key = (self._lrs(), tuple((name, t.shape, t.dtype, t.device) for name, t in sorted(inputs.items())))
        if self._replay is None or key != self._key:
            self._record(inputs)
            self._key = key
        for name, tensor in inputs.items():
            self._static[name].copy_(tensor)
        self._replay()
        return self.loss

    def _body(self) -> None:
        loss = self.loss_fn(**self._static)
        self.optimizer.zero_grad(set_to_none=False)  # the recording keeps the gradients' memory
        loss.backward()
        if self.max_grad_norm:
            nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
        self.optimizer.step()
        self.loss = loss.detach()

    def _record(self, inputs: dict[str, Tensor]) -> None:
        self._replay = None
        make_capturable(self.optimizer)
        self._static = {name: tensor.detach().clone() for name, tensor in inputs.items()}
        saved = self._snapshot()
        try:
            self._replay = self.capture(self._body)
            self.recordings += 1
        finally:
            self._restore(saved)  # the warm-up runs trained: undo them

    def _snapshot(self) -> tuple[list[Tensor], dict]:
        weights = [p.detach().clone() for p in self.params]
        state = {p: {k: v.clone() if isinstance(v, Tensor) else v for k, v in self.optimizer.state[p].items()}
                 for p in self.params if p in self.optimizer.state}
        return weights, state

    @torch.no_grad()
    def _restore(self, saved: tuple[list[Tensor], dict]) -> None:
        """Weights and optimiser state as they were, written into the same tensors (the recording's)."""
        weights, state = saved
        for p, w in zip(self.params, weights):
            p.copy_(w)
        for p in self.params:
            now = self.optimizer.state.get(p)
            if not now:
                continue
            before = state.get(p)
            for k, v in now.items():
                if isinstance(v, Tensor):
                    # a state the warm-up created starts from zero, as Adam's fresh state does
                    v.copy_(before[k]) if before is not None else v.zero_()
