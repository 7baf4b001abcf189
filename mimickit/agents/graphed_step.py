"""An update phase's minibatch step (loss, backward, optimiser step) recorded once as a CUDA graph and replayed.

On the GPU the update is bound by kernel launches from Python, not by arithmetic: a minibatch step is a few hundred
small kernels, an iteration 70-100 steps, and the same DeepMimic update took 0.13, 0.16 and 0.18 s per iteration on
three H200 hosts whose (graphed) physics took the same 0.28 s on each (docs/gpu.md). A replay launches a whole step
at once.

PyTorch's whole-network capture recipe (torch.cuda.graphs): a few eager steps on a side stream first, so that the
optimiser's state and the libraries' workspaces exist; the capture, on that stream, with the gradients set to None,
so that the graph's backward allocates them from its pool and assigns rather than accumulates; then, for every
later minibatch, its tensors are copied into the captured inputs before the replay. What the step returns (its loss
terms) are the graph's own tensors, overwritten by the next replay: use them before it (the agent sums them).
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from mimickit.agents.storage import CORE_FIELDS, Batch

StepFn = Callable[[Batch], dict[str, torch.Tensor]]


def make_capturable(optimizer: torch.optim.Optimizer) -> None:
    """Let `optimizer.step` run inside a CUDA graph: Adam-family optimisers need `capturable` and their step counts
    on the device (SGD has neither and captures as it is). Call it before the optimiser's first captured step."""
    for group in optimizer.param_groups:
        if "capturable" not in group:
            continue
        group["capturable"] = True
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            if "step" in state:
                state["step"] = torch.as_tensor(state["step"], dtype=torch.float32, device=param.device)


def batch_tensors(batch: Batch) -> list[torch.Tensor]:
    """Every tensor of a minibatch, in a fixed order (core fields, then the extras by name)."""
    return [getattr(batch, name) for name in CORE_FIELDS] + [batch.extras[name] for name in sorted(batch.extras)]


class GraphedStep:
    """`step(batch)` replayed as a CUDA graph for minibatches of `batch_size` samples (see the module docstring).

    The first `warmup_steps` calls run `step` eagerly on a side stream; the next one captures it and replays it.
    `step` must be capturable: no host reads, no shapes or Python branches that depend on tensor values, and every
    tensor it reads besides the batch (parameters, normaliser statistics, buffers) updated in place between calls.
    """

    def __init__(self, step: StepFn, batch_size: int, warmup_steps: int = 3):
        self._step = step
        self.batch_size = batch_size
        self._warmup_left = warmup_steps
        self._graph: torch.cuda.CUDAGraph | None = None
        self._inputs: list[torch.Tensor] = []
        self._outputs: dict[str, torch.Tensor] = {}
        self._stream = torch.cuda.Stream()

    def fits(self, batch: Batch) -> bool:
        """Whether `batch` has the graph's size (an epoch's last minibatch may be smaller: the caller runs it
        eagerly)."""
        return batch.obs.shape[0] == self.batch_size

    def __call__(self, batch: Batch) -> dict[str, torch.Tensor]:
        if self._graph is None and self._warmup_left > 0:
            self._warmup_left -= 1
            self._stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self._stream):
                outputs = self._step(batch)
            torch.cuda.current_stream().wait_stream(self._stream)
            return outputs
        if self._graph is None:
            self._capture(batch)
        else:
            for static, tensor in zip(self._inputs, batch_tensors(batch)):
                static.copy_(tensor)
        self._graph.replay()
        return self._outputs

    def _capture(self, batch: Batch) -> None:
        """Record one step on static copies of `batch` (nothing runs until the replay)."""
        self._inputs = [t.clone() for t in batch_tensors(batch)]
        static = batch_from_tensors(batch, self._inputs)
        self._graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph, stream=self._stream):  # the warm-up's stream: its library handles exist
            self._outputs = self._step(static)


def batch_from_tensors(like: Batch, tensors: list[torch.Tensor]) -> Batch:
    """A `Batch` of `tensors`, ordered as `batch_tensors(like)` lists them."""
    extras = sorted(like.extras)
    return Batch(**dict(zip(CORE_FIELDS, tensors)), extras=dict(zip(extras, tensors[len(CORE_FIELDS):])))
