"""Running mean/variance normaliser for observations, with statistics that can be merged across processes."""
from __future__ import annotations

import torch
from torch import nn

from mimickit.utils import distributed


def compute_merged_moments(
    count_a: torch.Tensor,
    mean_a: torch.Tensor,
    var_a: torch.Tensor,
    count_b: torch.Tensor,
    mean_b: torch.Tensor,
    var_b: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Count, mean and (population) variance of the union of two sample sets (Chan et al.'s parallel update).

    n = n_a + n_b;  mean = mean_a + (mean_b - mean_a) n_b / n;
    var = (n_a var_a + n_b var_b + (mean_b - mean_a)^2 n_a n_b / n) / n
    """
    count = count_a + count_b
    safe = torch.clamp_min(count, 1.0)
    delta = mean_b - mean_a
    mean = mean_a + delta * (count_b / safe)
    var = (count_a * var_a + count_b * var_b + delta.square() * (count_a * count_b / safe)) / safe
    return count, mean, var


def as_sample_rows(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """A (..., *shape) batch as (n, *shape) float64 rows (statistics accumulate over billions of samples)."""
    if tuple(x.shape[x.dim() - len(shape):]) != shape:
        raise ValueError(f"normalizer of shape {shape} got samples of shape {tuple(x.shape)}")
    return x.detach().reshape(-1, *shape).to(torch.float64)


class RunningNormalizer(nn.Module):
    """x -> clip((x - mean) / std, -clip, clip), with mean and std estimated from recorded samples.

    `record(x)` only accumulates sums on the device (no host sync); `update()` folds them into the running
    statistics once per iteration, so a whole rollout and its update see one fixed normalisation. With several
    workers, `update()` first sums the pending samples of all of them, so every worker folds the same samples
    and the statistics stay identical. All statistics are buffers, so they travel in `state_dict`. After
    `max_samples` samples the statistics freeze.
    """

    def __init__(
        self,
        shape: int | tuple[int, ...],
        clip: float | None = 10.0,
        max_samples: int | None = None,
        min_std: float = 1e-4,
    ):
        super().__init__()
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.shape = shape
        self.clip = clip
        self.max_samples = max_samples
        self.min_std = min_std
        # float64 statistics: long runs accumulate billions of samples
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("pending_count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("pending_sum", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("pending_sq_sum", torch.zeros(shape, dtype=torch.float64))
        # float32 copies used by normalize(), refreshed whenever the statistics change
        self.register_buffer("_mean32", torch.zeros(shape), persistent=False)
        self.register_buffer("_std32", torch.ones(shape), persistent=False)
        self._frozen = False

    @property
    def frozen(self) -> bool:
        return self._frozen

    def record(self, x: torch.Tensor) -> None:
        """Accumulate a (..., *shape) batch of samples; ignored once frozen."""
        if self._frozen:  # nothing to record: skip the copy (this runs every rollout step)
            return
        flat = as_sample_rows(x, self.shape)
        self.pending_count += flat.shape[0]
        self.pending_sum += flat.sum(dim=0)
        self.pending_sq_sum += flat.square().sum(dim=0)

    def update(self) -> None:
        """Fold the recorded samples (of every worker) into the running statistics (one host sync, for the
        freeze check). All workers must call it together."""
        if not self._frozen:
            if distributed.is_active():
                distributed.all_reduce_([self.pending_count, self.pending_sum, self.pending_sq_sum])
            n = torch.clamp_min(self.pending_count, 1.0)
            mean_b = self.pending_sum / n
            var_b = torch.clamp_min(self.pending_sq_sum / n - mean_b.square(), 0.0)
            self.merge(self.pending_count, mean_b, var_b)
        self.pending_count.zero_()
        self.pending_sum.zero_()
        self.pending_sq_sum.zero_()

    def merge(self, count: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> None:
        """Merge statistics of another sample set (e.g. gathered from other processes) into these."""
        count = torch.as_tensor(count, dtype=torch.float64, device=self.count.device)
        new_count, new_mean, new_var = compute_merged_moments(
            self.count, self.mean, self.var, count, mean.to(self.mean), var.to(self.var)
        )
        has_samples = new_count > 0
        self.count.copy_(new_count)
        self.mean.copy_(torch.where(has_samples, new_mean, self.mean))
        self.var.copy_(torch.where(has_samples, new_var, self.var))
        self._refresh()

    @property
    def std(self) -> torch.Tensor:
        return self._std32

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        norm = (x - self._mean32) / self._std32
        if self.clip is not None:
            norm = torch.clamp(norm, -self.clip, self.clip)
        return norm

    def unnormalize(self, norm: torch.Tensor) -> torch.Tensor:
        return norm * self._std32 + self._mean32

    def _refresh(self) -> None:
        self._mean32.copy_(self.mean)
        self._std32.copy_(torch.clamp_min(self.var.sqrt(), self.min_std))
        self._frozen = self.max_samples is not None and float(self.count) >= self.max_samples

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._refresh()
