"""Evaluation of a tracking policy on every clip of its motion library (`mode=eval`, scripts/evaluate.py).

Each clip is played from its start and from `random_starts` random phases, with deterministic actions, until the
clip ends (or the env's episode length limit) or the character fails: it falls (the env's FAIL), or its mean body
position error passes `success_threshold` (ProtoMotions' success criterion). The episodes (clips x starts) are
batched over the env's num_envs and stepped together; per-frame errors (mimickit.eval.metrics) are summed on the
device, and read back once per batch. The report (mimickit.eval.report) has one row per clip and a mean row:
docs/evaluation.md defines every column.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from mimickit.envs.base_env import DoneFlags
from mimickit.eval import report
from mimickit.eval.metrics import FrameErrors, compute_frame_errors, phase_bin
from mimickit.utils.checkpoint import save_json

log = logging.getLogger(__name__)

METRICS_NAME = "metrics.json"


@dataclass(frozen=True)
class EpisodePlan:
    """The evaluation's episodes, on the CPU, (E,) each: clip by clip, the start first, then the random phases."""

    motion_ids: torch.Tensor  # long, clip index in the motion library
    start_times: torch.Tensor  # s, where the episode starts in its clip
    num_steps: torch.Tensor  # long, control steps until the clip ends, at most the env's episode length


def plan_episodes(
    lengths: torch.Tensor, random_starts: int, dt: float, max_steps: int, generator: torch.Generator
) -> EpisodePlan:
    """1 + random_starts episodes per clip of `lengths` (s): from phase 0, then from phases uniform in [0, 1)."""
    lengths = lengths.detach().cpu().double()
    phases = torch.cat([torch.zeros(len(lengths), 1, dtype=torch.float64),
                        torch.rand(len(lengths), random_starts, generator=generator, dtype=torch.float64)], dim=1)
    motion_ids = torch.arange(len(lengths)).repeat_interleave(1 + random_starts)
    start_times = (phases * lengths.unsqueeze(1)).flatten()
    remaining = lengths[motion_ids] - start_times
    num_steps = torch.ceil(remaining / dt - 1e-6).long().clamp(1, max_steps)
    return EpisodePlan(motion_ids, start_times.float(), num_steps)


class EpisodeStats:
    """Sums over the frames of one batch of episodes (one per env), updated in place on the device."""

    def __init__(self, num_envs: int, phase_bins: int, device: torch.device):
        zeros = torch.zeros(num_envs, device=device)
        self.frames = zeros.clone()
        self.body_pos_err = zeros.clone()  # m, summed over frames (as are the next two)
        self.mpjpe = zeros.clone()
        self.joint_angle_err = zeros.clone()
        self.max_body_pos_err = zeros.clone()
        self.root_drift = zeros.clone()  # m, at the episode's last frame
        self.failed = torch.zeros(num_envs, dtype=torch.bool, device=device)
        self.alive = torch.ones(num_envs, dtype=torch.bool, device=device)
        self.bin_err = torch.zeros(num_envs, phase_bins, device=device)  # body position error summed per phase bin
        self.bin_frames = torch.zeros(num_envs, phase_bins, device=device)

    def add(self, errors: FrameErrors, in_clip: torch.Tensor, fell: torch.Tensor, bins: torch.Tensor,
            success_threshold: float) -> None:
        """Count one frame of the envs whose episode still runs (`in_clip`, not failed earlier); an env fails at
        this frame when it fell or its body position error passes the threshold, and its episode ends there."""
        active = self.alive & in_clip
        counted = active & torch.stack([e.isfinite() for e in errors]).all(0)  # a blown-up frame fails, uncounted

        def masked(x: torch.Tensor) -> torch.Tensor:
            return torch.where(counted, x, torch.zeros_like(x))

        self.frames += counted.float()
        self.body_pos_err += masked(errors.body_pos)
        self.mpjpe += masked(errors.mpjpe)
        self.joint_angle_err += masked(errors.joint_angle)
        torch.maximum(self.max_body_pos_err, masked(errors.body_pos), out=self.max_body_pos_err)
        self.root_drift.copy_(torch.where(counted, errors.root_drift, self.root_drift))
        self.bin_err.scatter_add_(1, bins.unsqueeze(1), masked(errors.body_pos).unsqueeze(1))
        self.bin_frames.scatter_add_(1, bins.unsqueeze(1), counted.float().unsqueeze(1))
        failed_now = active & (fell | ~counted | (errors.body_pos > success_threshold))
        self.failed |= failed_now
        self.alive &= ~failed_now

    def to_cpu(self, count: int) -> dict[str, torch.Tensor]:
        """The first `count` envs' sums (the rest padded the batch), read back in one transfer each."""
        return {name: value[:count].cpu() for name, value in vars(self).items() if name != "alive"}


@torch.no_grad()
def run_episodes(agent, env, plan: EpisodePlan, success_threshold: float, phase_bins: int) -> dict[str, torch.Tensor]:
    """Play the plan's episodes with the agent's deterministic actions, num_envs at a time; returns each episode's
    `EpisodeStats` sums, (E,) or (E, phase_bins), in the plan's order."""
    n, device = env.num_envs, env.device
    parents = env.parents
    order = torch.argsort(plan.num_steps, descending=True, stable=True)  # batches of similar length waste few steps
    batches = []
    for chunk in order.split(n):
        padded = torch.cat([chunk, chunk[:1].expand(n - len(chunk))])  # spare envs replay the first episode
        motion_ids, start_times = plan.motion_ids[padded].to(device), plan.start_times[padded].to(device)
        num_steps = plan.num_steps[padded].to(device)
        clip_lengths = env.motion_lib.get_motion_length(motion_ids)
        stats = EpisodeStats(n, phase_bins, device)
        obs = env.reset_to(motion_ids, start_times)
        for t in range(int(plan.num_steps[chunk].max())):
            obs, _, done, _ = env.step(agent.policy_action(obs))
            sim, ref = env.tracking_frames()
            errors = compute_frame_errors(sim.body_pos, sim.body_rot, ref.body_pos, ref.body_rot, parents)
            bins = phase_bin(start_times + (t + 1) * env.dt, clip_lengths, phase_bins)
            stats.add(errors, in_clip=num_steps > t, fell=done == DoneFlags.FAIL, bins=bins,
                      success_threshold=success_threshold)
        batches.append((chunk, stats.to_cpu(len(chunk))))
    episodes = {}
    for name in batches[0][1]:
        values = torch.cat([b[name] for _, b in batches])
        episodes[name] = torch.empty_like(values).index_copy_(0, torch.cat([c for c, _ in batches]), values)
    return episodes


def summarize_clips(plan: EpisodePlan, episodes: dict[str, torch.Tensor], names: list[str],
                    lengths: list[float]) -> tuple[list[dict], torch.Tensor]:
    """One row per clip (report.COLUMNS) and the clip's body position error per phase bin (mm, NaN where no episode
    reached the bin), (num_clips, phase_bins)."""
    rows, curves = [], []
    for clip, (name, length) in enumerate(zip(names, lengths)):
        ep = {key: value[plan.motion_ids == clip].double() for key, value in episodes.items()}
        frames = ep["frames"].sum()
        rows.append({
            "clip": name,
            "length_s": length,
            "episodes": int(len(ep["frames"])),
            "success_rate": float(1.0 - ep["failed"].mean()),
            "body_pos_err_mm": float(1000 * ep["body_pos_err"].sum() / frames),
            "mpjpe_mm": float(1000 * ep["mpjpe"].sum() / frames),
            "joint_angle_err_rad": float(ep["joint_angle_err"].sum() / frames),
            "max_body_pos_err_mm": float(1000 * ep["max_body_pos_err"].max()),
            "root_drift_m": float(ep["root_drift"].mean()),
        })
        curves.append(1000 * ep["bin_err"].sum(0) / ep["bin_frames"].sum(0))  # 0/0 = NaN: not reached
    return rows, torch.stack(curves)


def clip_names(motion_files: list[str]) -> list[str]:
    """Each clip's file name without its suffix; repeated names get their index."""
    stems = [Path(f).stem for f in motion_files]
    return [f"{s}#{i}" if stems.count(s) > 1 else s for i, s in enumerate(stems)]


class TrackingEvaluator:
    """The evaluation's settings (conf/eval/default.yaml, the one place of their defaults) and its run."""

    def __init__(self, *, random_starts: int, success_threshold: float, phase_bins: int, seed: int):
        """random_starts: episodes per clip from random phases, besides the one from the clip's start;
        success_threshold: mean body position error (m) past which an episode fails;
        phase_bins: bins of the clip's phase in the per-frame error curves;
        seed: seed of the random start phases (the same starts whatever the run's seed)."""
        if random_starts < 0 or phase_bins < 1 or success_threshold <= 0:
            raise ValueError(f"need random_starts >= 0, phase_bins >= 1 and success_threshold > 0, got "
                             f"{random_starts}, {phase_bins}, {success_threshold}")
        self.random_starts = random_starts
        self.success_threshold = success_threshold
        self.phase_bins = phase_bins
        self.seed = seed

    def evaluate(self, agent, env, out_dir: str, model_file: str | None = None) -> dict[str, float]:
        """Evaluate `agent`'s policy on every clip of `env` (a DeepMimicEnv); writes eval.csv, eval.md,
        eval_per_frame.csv/png and metrics.json into `out_dir` and returns the means over clips as `eval/<column>`."""
        if not hasattr(env, "reset_to"):
            raise TypeError(f"mode=eval evaluates motion tracking (env=deepmimic or env=add), not {type(env).__name__}")
        lib = env.motion_lib
        plan = plan_episodes(lib.motion_lengths, self.random_starts, env.dt, env.max_episode_steps,
                             torch.Generator().manual_seed(self.seed))
        log.info("evaluating %d clips x %d starts = %d episodes on %d envs", lib.num_motions, 1 + self.random_starts,
                 len(plan.motion_ids), env.num_envs)
        agent.set_training(False)
        episodes = run_episodes(agent, env, plan, self.success_threshold, self.phase_bins)
        rows, curves = summarize_clips(plan, episodes, clip_names(lib.motion_files), lib.motion_lengths.tolist())
        rows.append(report.mean_row(rows))
        title = (f"{model_file or 'policy'}: {len(plan.motion_ids)} episodes ({1 + self.random_starts} per clip: "
                 f"start + {self.random_starts} random phases, seed {self.seed}), success threshold "
                 f"{self.success_threshold} m, max {env.max_episode_steps * env.dt:.4g} s per episode")
        report.write_reports(out_dir, rows, curves, title)
        means = {f"eval/{key}": value for key, value in rows[-1].items() if isinstance(value, (int, float))}
        save_json(os.path.join(out_dir, METRICS_NAME), means)
        log.info("evaluation:\n%s", report.markdown_table(rows))
        return means
