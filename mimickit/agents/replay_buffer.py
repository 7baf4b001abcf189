"""Replay of past agent samples for the discriminator, so it does not forget what older policies did."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

OVERWRITE_MODES = ("oldest", "random")  # which slots a full buffer's `add` overwrites


class ReplayBuffer:
    """Preallocated device tensors of `capacity` rows for named fields that stay row-aligned (AMP: {"agent"};
    ADD: {"agent", "demo"}, so pairs stay pairs).

    `add` stores the batch's rows while the buffer is not full and `num_replace` random rows of it once it is full
    (MimicKit: `disc_buffer_size` 200000, `disc_replay_samples` 1000). Where they go is `overwrite`:

    - "oldest": a ring (MimicKit's `ExperienceBuffer.push`). Rows are written at the head and wrap around over the
      oldest ones, so every sample lives capacity / num_replace adds and the buffer holds only recent policies
      (the last 200 iterations at MimicKit's sizes). While not full, the whole batch goes in, wrapping if need be.
    - "random": while there is room, only the rows that fit (a random subset of the batch when part of it fits);
      once full, `num_replace` distinct random slots. A sample's life is then geometric, so some samples of the
      first, untrained policies stay for many times capacity / num_replace adds.

    The fill level and head are Python ints that only depend on batch sizes, so neither `add` nor `sample` syncs
    with the device. `sample` reads the fill level from a device copy, so a CUDA graph that captured it
    (`GraphedStep`) draws from the rows filled since.
    """

    def __init__(
        self,
        capacity: int,
        field_shapes: Mapping[str, int | Sequence[int]],
        num_replace: int,
        *,
        overwrite: str,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        if capacity <= 0 or num_replace < 0 or not field_shapes:
            raise ValueError(
                f"replay buffer needs capacity > 0, num_replace >= 0 and a field: "
                f"got {capacity}, {num_replace}, {dict(field_shapes)}"
            )
        if overwrite not in OVERWRITE_MODES:
            raise ValueError(f"replay overwrite must be one of {OVERWRITE_MODES}, got {overwrite!r}")
        self.capacity = capacity
        self.num_replace = num_replace
        self.overwrite = overwrite
        self.device = torch.device(device)
        self.fields = {
            name: torch.zeros(capacity, *_as_shape(shape), device=self.device, dtype=dtype)
            for name, shape in field_shapes.items()
        }
        self._filled = 0
        self._filled_rows = torch.zeros((), device=self.device)  # _filled on the device, for `sample`
        self._head = 0  # the next slot "oldest" writes

    def __len__(self) -> int:
        return self._filled

    @property
    def full(self) -> bool:
        return self._filled == self.capacity

    def add(self, batch: Mapping[str, torch.Tensor]) -> None:
        """Store rows of a {field: (n, *shape)} batch that has every field (see the class docstring)."""
        n = self._check_batch(batch)
        if self.overwrite == "oldest":
            k = min(self.num_replace if self.full else self.capacity, n)
            rows = _random_rows(n, k, self.device)
            slots = (self._head + torch.arange(k, device=self.device)) % self.capacity
            self._head = (self._head + k) % self.capacity
            self._filled = min(self._filled + k, self.capacity)
        elif self.full:
            k = min(self.num_replace, n)
            rows = torch.randperm(n, device=self.device)[:k]
            slots = torch.randperm(self.capacity, device=self.device)[:k]
        else:
            k = min(self.capacity - self._filled, n)
            rows = _random_rows(n, k, self.device)
            slots = torch.arange(self._filled, self._filled + k, device=self.device)
            self._filled += k
        for name, data in self.fields.items():
            data[slots] = batch[name].to(data)[rows]
        self._filled_rows.fill_(self._filled)

    def sample(self, n: int) -> dict[str, torch.Tensor]:
        """n rows drawn uniformly with replacement from the filled part, the same rows of every field."""
        if self._filled == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        idx = (torch.rand(n, device=self.device) * self._filled_rows).long()  # uniform over the filled rows
        return {name: data[idx] for name, data in self.fields.items()}

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The filled rows of every field plus the fill level and ring head, as tensors (weights-only checkpoints)."""
        state = {name: data[: self._filled].clone() for name, data in self.fields.items()}
        state["num_filled"] = torch.tensor(self._filled)
        state["head"] = torch.tensor(self._head)
        return state

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        if set(state) != {*self.fields, "num_filled", "head"}:
            raise ValueError(
                f"replay state has keys {sorted(state)}, expected {sorted(self.fields)} + num_filled, head"
            )
        filled = int(state["num_filled"])
        if filled > self.capacity:
            raise ValueError(f"replay state holds {filled} rows, more than the capacity {self.capacity}")
        for name, data in self.fields.items():
            data[:filled] = state[name][:filled].to(data)
        self._filled = filled
        self._filled_rows.fill_(filled)
        self._head = int(state["head"]) % self.capacity

    def _check_batch(self, batch: Mapping[str, torch.Tensor]) -> int:
        if set(batch) != set(self.fields):
            raise ValueError(f"replay batch has fields {sorted(batch)}, expected {sorted(self.fields)}")
        shapes = {name: tuple(x.shape) for name, x in batch.items()}
        lengths = {shape[0] for shape in shapes.values()}
        rows_ok = all(shape[1:] == self.fields[name].shape[1:] for name, shape in shapes.items())
        if len(lengths) != 1 or not rows_ok:
            expected = {name: ("n", *data.shape[1:]) for name, data in self.fields.items()}
            raise ValueError(f"replay batch shapes {shapes} do not match {expected} with one n")
        return lengths.pop()


def _random_rows(n: int, k: int, device: torch.device) -> torch.Tensor:
    """k distinct random row indices of n (all n in order when k == n)."""
    return torch.randperm(n, device=device)[:k] if k < n else torch.arange(n, device=device)


def _as_shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    return (shape,) if isinstance(shape, int) else tuple(shape)
