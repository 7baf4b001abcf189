"""Per-episode statistics accumulated on the device: return, length and the means of "episode/*" info keys (per env
step: an agent step that spans several, info `ENV_STEPS`, adds that many to the length), and their standard errors."""
from __future__ import annotations

import math

import torch

from mimickit.envs.base_env import ENV_STEPS, DoneFlags

EPISODE_PREFIX = "episode/"
MEAN_SQUARE_PREFIX = "mean_square/"  # summary(with_mean_squares=True): per-episode E[x^2], for standard_errors


def standard_errors(summary: dict[str, float]) -> dict[str, float]:
    """The standard error of each mean of a `summary(with_mean_squares=True)` (after `reduce_episode_summary` with
    several workers): sqrt(sample variance / episodes); nan with fewer than two episodes."""
    count = summary["episodes"]
    errors = {}
    for key, mean_square in summary.items():
        if key.startswith(MEAN_SQUARE_PREFIX):
            mean = summary[key.removeprefix(MEAN_SQUARE_PREFIX)]
            variance = max(mean_square - mean * mean, 0.0) * count / (count - 1) if count > 1 else math.nan
            errors[key.removeprefix(MEAN_SQUARE_PREFIX)] = math.sqrt(variance / count)
    return errors


class EpisodeTracker:
    """Sums each env's running episode, and folds it into totals when the episode ends.

    With `episodes_per_env`, only each env's first that many episodes count, so a test that stops later than
    needed reports the same numbers and short episodes are not over-represented. With `keep_episodes`, each counted
    episode's statistics, end flag and env are kept too (`episodes()`; a host sync per step: for analysis, not
    training).
    """

    def __init__(self, num_envs: int, device: torch.device, episodes_per_env: int | None = None,
                 keep_episodes: bool = False):
        self.num_envs = num_envs
        self.device = device
        self.episodes_per_env = episodes_per_env
        self.keep_episodes = keep_episodes
        self._info_keys: list[str] | None = None
        self.reset()

    def reset(self) -> None:
        """Forget every episode, finished or running (call it when all envs are reset)."""
        zeros = lambda dtype=torch.float32: torch.zeros(self.num_envs, dtype=dtype, device=self.device)
        self._return = zeros()
        self._length = zeros()
        self._info_sums: dict[str, torch.Tensor] = {k: zeros() for k in self._info_keys or []}
        self.env_episodes = zeros(torch.long)
        # episode count, then each statistic's sum over episodes, then the sums of their squares
        self._totals = torch.zeros(1 + 2 * (2 + len(self._info_sums)), dtype=torch.float64, device=self.device)
        self._kept: list[tuple[torch.Tensor, ...]] = []  # per step: (statistics x episodes, end flags, envs)

    def update(self, reward: torch.Tensor, done: torch.Tensor, info: dict[str, torch.Tensor]) -> None:
        if self._info_keys is None:
            self._info_keys = sorted(k for k in info if k.startswith(EPISODE_PREFIX))
            self.reset()
        self._return += reward
        self._length += info.get(ENV_STEPS, 1.0)
        for key, running in self._info_sums.items():
            if key not in info:
                raise KeyError(f"env info lost key {key!r} it reported on the first step; it has {sorted(info)}")
            running += info[key].to(running.dtype)

        ended = done != DoneFlags.NULL
        counted = ended
        if self.episodes_per_env is not None:
            counted = ended & (self.env_episodes < self.episodes_per_env)
        # per episode, in `_statistic_names` order: return, length, then each info key's per-step mean
        per_episode = [self._return, self._length]
        per_episode += [s / torch.clamp_min(self._length, 1.0) for s in self._info_sums.values()]
        values = torch.stack(per_episode)
        rows = torch.cat([torch.ones_like(self._return)[None], values, values * values])
        self._totals += (rows * counted.to(torch.float32)).sum(dim=-1).to(torch.float64)
        if self.keep_episodes:
            self._kept.append((values[:, counted], done[counted], torch.nonzero(counted).flatten()))

        self.env_episodes += ended.long()
        keep = (~ended).to(torch.float32)
        self._return *= keep
        self._length *= keep
        for running in self._info_sums.values():
            running *= keep

    def all_envs_done(self) -> torch.Tensor:
        """bool scalar tensor: every env has finished its `episodes_per_env` episodes."""
        if self.episodes_per_env is None:
            raise ValueError("all_envs_done needs episodes_per_env")
        return (self.env_episodes >= self.episodes_per_env).all()

    def episodes(self) -> dict[str, torch.Tensor]:
        """Every counted episode (`keep_episodes`), in the order they ended: "return", "episode_length", each info
        key's per-step mean, "done", its end flag (a DoneFlags value), and "env", the env it ran in."""
        if not self.keep_episodes:
            raise ValueError("episodes() needs EpisodeTracker(..., keep_episodes=True)")
        keys = self._statistic_names()
        if not self._kept:
            return {**{k: torch.zeros(0) for k in keys}, "done": torch.zeros(0, dtype=torch.long),
                    "env": torch.zeros(0, dtype=torch.long)}
        values, flags, envs = (torch.cat(parts, dim=-1) for parts in zip(*self._kept))
        return {**dict(zip(keys, values)), "done": flags, "env": envs}

    def summary(self, with_mean_squares: bool = False) -> dict[str, torch.Tensor]:
        """Means over counted episodes (nan when none ended) and their number, as device scalars; with
        `with_mean_squares`, each mean's E[x^2] too (`MEAN_SQUARE_PREFIX`), from which `standard_errors` follow."""
        count = self._totals[0]
        means = torch.where(count > 0, self._totals[1:] / torch.clamp_min(count, 1.0), math.nan)
        keys = self._statistic_names()
        out = dict(zip(keys, means[:len(keys)]))
        out["episodes"] = count
        if with_mean_squares:
            out.update({MEAN_SQUARE_PREFIX + key: means[len(keys) + i] for i, key in enumerate(keys)})
        return out

    def _statistic_names(self) -> list[str]:
        """The per-episode statistics in the order `update` stacks them."""
        return ["return", "episode_length", *self._info_sums]
