"""ADD's normaliser for demo - agent differences: a per-dimension scale only, so a zero difference stays zero."""
from __future__ import annotations

import torch
from torch import nn

from mimickit.models.normalizer import as_sample_rows
from mimickit.utils import distributed


class DiffNormalizer(nn.Module):
    """x -> x / max(mean|x|, min_mean_abs) per dimension; no centering (zero is ADD's positive sample, and it
    must map to zero) and no clip (MimicKit `diff_normalizer.py`).

    mean|x| is the count-weighted running mean of all recorded samples and starts at 1 (identity before the
    first update). Same protocol as `RunningNormalizer`: `record(x)` accumulates on the device, `update()`
    folds the pending samples of every worker in once per iteration, and the statistics freeze after
    `max_samples`. All statistics are buffers, so they travel in `state_dict`.
    """

    def __init__(self, shape: int | tuple[int, ...], max_samples: int | None = None, min_mean_abs: float = 1e-4):
        super().__init__()
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.shape = shape
        self.max_samples = max_samples
        self.min_mean_abs = min_mean_abs
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean_abs", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("pending_count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("pending_abs_sum", torch.zeros(shape, dtype=torch.float64))
        # float32 divisor used by normalize(), refreshed whenever the statistics change
        self.register_buffer("_scale32", torch.ones(shape), persistent=False)
        self._frozen = False

    @property
    def frozen(self) -> bool:
        return self._frozen

    @property
    def scale(self) -> torch.Tensor:
        """max(mean|x|, min_mean_abs), the per-dimension divisor."""
        return self._scale32

    def record(self, x: torch.Tensor) -> None:
        """Accumulate a (..., *shape) batch of samples; ignored once frozen."""
        if self._frozen:  # nothing to record: skip the copy (this runs every rollout step)
            return
        flat = as_sample_rows(x, self.shape)
        self.pending_count += flat.shape[0]
        self.pending_abs_sum += flat.abs().sum(dim=0)

    def update(self) -> None:
        """Fold the recorded samples (of every worker) into mean|x| (one host sync, for the freeze check).
        All workers must call it together."""
        if not self._frozen:
            if distributed.is_active():
                distributed.all_reduce_([self.pending_count, self.pending_abs_sum])
            count = self.count + self.pending_count
            # count-weighted mean; with no samples at all mean|x| keeps its initial 1
            merged = (self.count * self.mean_abs + self.pending_abs_sum) / torch.clamp_min(count, 1.0)
            self.mean_abs.copy_(torch.where(count > 0, merged, self.mean_abs))
            self.count.copy_(count)
            self._refresh()
        self.pending_count.zero_()
        self.pending_abs_sum.zero_()

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return x / self._scale32

    def _refresh(self) -> None:
        self._scale32.copy_(torch.clamp_min(self.mean_abs, self.min_mean_abs))
        self._frozen = self.max_samples is not None and float(self.count) >= self.max_samples

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._refresh()
