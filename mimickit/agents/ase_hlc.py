"""ASE high-level controller (Peng et al. 2022, section 6): a task policy whose actions are latents of a frozen,
pre-trained ASE low-level policy, trained with PPO on a task env (location, steering). MimicKit has none (its issue
#83); the ASE repository's `hrl_agent.py` is the reference.

- The HLC's action space is the latent space (`LatentActionEnv` wraps the task env's step): its raw action a
  (latent_dim numbers, in [-1, 1] by the action-bound penalty) becomes z = a / |a| on the unit sphere, and the env
  receives the low-level policy's deterministic action llc(obs[:, :llc.obs_dim], z), the character part of the
  task env's observation. Rollouts, test episodes and playback all act through it.
- The HLC decides every `llc_steps` env steps (ASE's `hrl_agent.py`: 5; here 1 by default, a decision per 30 Hz
  step): z is held for that many env steps, and the HLC's sample gets the mean of their rewards. An episode that ends
  inside a held latent ends the sample there: its steps after the end are stepped (the batch moves together) but
  count for nothing, and the sample carries the episode's final observation (the time-out bootstrap) and end flag.
  The task envs' per-step "episode/*" metrics are summed over the held steps and the info says how many env steps
  the sample spanned (`ENV_STEPS`), so the logged episode means and lengths are per env step, as for AMP.
- reward = task_reward_weight x env reward + style_reward_weight x the frozen discriminator's style reward of each
  env step's disc obs (`LowLevelPolicy.style_reward`, averaged as the env reward over held steps), computed during
  the rollout only when its weight is not 0 (storage extra `style_reward`), so the low-level policy's style is kept
  (ASE: 0.9 and 0.1).
- The low-level policy stays frozen: eval mode, no gradients, in no optimiser and not in the checkpoint, which holds
  only its file name and a digest of its weights (`LowLevelDigest`); loading an HLC checkpoint with another
  low-level policy is refused.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from mimickit.agents.ase import LowLevelPolicy, load_low_level_policy
from mimickit.agents.episode_tracker import EPISODE_PREFIX
from mimickit.agents.ppo import PPOAgent
from mimickit.envs.amp_env import AMPEnv
from mimickit.envs.base_env import ENV_STEPS, BaseEnv, DoneFlags

STYLE_REWARD = "style_reward"  # the storage field of each step's style reward (only when weighted)


def latents_from_actions(actions: torch.Tensor) -> torch.Tensor:
    """The HLC's raw (N, latent_dim) actions scaled to unit length: the latents z the low-level policy takes."""
    return F.normalize(actions, dim=-1)


class LatentActionEnv(BaseEnv):
    """A task env seen by the high-level controller: actions are (N, latent_dim) raw latents; `step` runs the
    low-level policy on the character part of the current observation and steps the task env with its action, for
    `llc_steps` env steps with the latent held. Observations, end flags and info are the task env's (the info's
    "episode/*" values summed over the held steps, `ENV_STEPS` their number), the reward their mean, and with
    `style_reward` the info's STYLE_REWARD the mean of the frozen discriminator's; other attributes (engine, dt,
    task_markers, disc_obs, ...) are read from the task env."""

    def __init__(self, env: AMPEnv, llc: LowLevelPolicy, llc_steps: int = 1, style_reward: bool = False):
        if llc_steps < 1:
            raise ValueError(f"algo.llc_steps must be at least 1, got {llc_steps}")
        self.env = env
        self.llc = llc
        self.llc_steps = llc_steps
        self.style_reward = style_reward
        self.num_envs = env.num_envs
        self.device = env.device
        self._obs: torch.Tensor | None = None  # the task env's latest observation: what the next step acts on

    def __getattr__(self, name: str) -> Any:
        if name in ("env", "llc"):  # not yet set (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.env, name)

    @property
    def obs_dim(self) -> int:
        return self.env.obs_dim

    @property
    def action_dim(self) -> int:
        return self.llc.latent_dim

    @property
    def action_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        ones = torch.ones(self.action_dim, device=self.device)
        return -ones, ones

    @property
    def num_unstable_resets(self) -> int:
        return self.env.num_unstable_resets

    def low_level_action(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """(N, env action_dim): llc(character obs, z) for task env observations and the HLC's raw actions."""
        return self.llc(obs[:, : self.llc.obs_dim], latents_from_actions(actions))

    def reset(self, env_ids: torch.Tensor | None = None) -> torch.Tensor:
        self._obs = self.env.reset(env_ids)
        return self._obs

    def reset_done(self, done: torch.Tensor) -> torch.Tensor:
        self._obs = self.env.reset_done(done)
        return self._obs

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        steps = self.substeps(actions)
        while True:
            try:
                next(steps)
            except StopIteration as end:
                return end.value

    def substeps(self, actions: torch.Tensor) -> Generator[None, None, tuple]:
        """`step` one env step per iteration (playback shows each); its result is the generator's return value."""
        if self._obs is None:
            raise RuntimeError("LatentActionEnv.step before reset: the low-level policy needs an observation")
        held = HeldSteps(self.num_envs, self.device)
        for _ in range(self.llc_steps):
            obs, reward, done, info = self.env.step(self.low_level_action(self._obs, actions))
            if self.style_reward:
                info = {**info, STYLE_REWARD: self.llc.style_reward(info["disc_obs"])}
            held.add(obs, reward, done, info)
            self._obs = obs
            yield
        return held.result()


class HeldSteps:
    """The env steps of one held latent, gathered into one step of the HLC: per env, the steps up to and including
    the one its episode ended at count (later ones are stepped but ignored); the result is the last counted step's
    observation, end flag and info, with the mean reward and style reward, the summed "episode/*" values and
    ENV_STEPS, the number of counted steps."""

    def __init__(self, num_envs: int, device: torch.device):
        self.count = torch.zeros(num_envs, device=device)
        self.reward = torch.zeros(num_envs, device=device)
        self.obs: torch.Tensor | None = None
        self.done = torch.zeros(num_envs, dtype=torch.long, device=device)  # NULL while its episode runs
        self.info: dict[str, torch.Tensor] = {}

    def add(self, obs: torch.Tensor, reward: torch.Tensor, done: torch.Tensor, info: dict[str, torch.Tensor]) -> None:
        live = self.done == DoneFlags.NULL
        weight = live.to(reward.dtype)
        self.count += weight
        self.reward += weight * reward
        self.obs = obs if self.obs is None else torch.where(live.unsqueeze(-1), obs, self.obs)
        self.done = torch.where(live, done, self.done)
        for key, value in info.items():
            if key.startswith(EPISODE_PREFIX) or key == STYLE_REWARD:
                self.info[key] = self.info.get(key, 0.0) + weight * value
            else:
                mask = live.view(-1, *([1] * (value.dim() - 1)))
                self.info[key] = value if key not in self.info else torch.where(mask, value, self.info[key])

    def result(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        info = dict(self.info)
        if STYLE_REWARD in info:
            info[STYLE_REWARD] = info[STYLE_REWARD] / self.count
        info[ENV_STEPS] = self.count
        return self.obs, self.reward / self.count, self.done, info


class ASEHLCAgent(PPOAgent):
    def __init__(
        self,
        env: AMPEnv,
        *,
        llc_model_file: str,
        llc_steps: int,
        task_reward_weight: float,
        style_reward_weight: float,
        device: str = "cpu",
        **ppo_kwargs: Any,
    ):
        """`ppo_kwargs` are PPO's and the loop's settings; the agent's `env` is the task env wrapped in
        `LatentActionEnv`, so the actor's action size is the low-level policy's latent_dim.

        Args:
            llc_model_file: model.pt of an ASE low-level run (experiment=ase_humanoid_pretrain), with the run's
                config.yaml beside it; its env must give the character observation this env starts with.
            llc_steps: env steps each latent is held (the HLC's decision period; ASE: 5).
            task_reward_weight, style_reward_weight: reward = task_w * env reward + style_w * the frozen
                discriminator's style reward (0: not computed).
        """
        if not isinstance(env, AMPEnv):
            raise TypeError(f"the ASE high-level controller drives a character env with discriminator observations "
                            f"(an AMPEnv: env=task_location, env=task_steering), not {type(env).__name__}")
        if not os.path.isfile(llc_model_file):
            raise FileNotFoundError(f"algo.llc_model_file {llc_model_file!r} not found: pass the model.pt of an ASE "
                                    "low-level run (experiment=ase_humanoid_pretrain)")
        llc = load_low_level_policy(llc_model_file, device)
        problems = low_level_mismatches(low_level_run_config(llc_model_file), env, llc,
                                        uses_disc=style_reward_weight != 0.0)
        if problems:
            raise ValueError(f"the low-level policy {llc_model_file!r} does not fit this env: "
                             + "; ".join(problems))
        latent_env = LatentActionEnv(env, llc, llc_steps, style_reward=style_reward_weight != 0.0)
        super().__init__(latent_env, device=device, **ppo_kwargs)
        self.llc = llc
        self.task_reward_weight = task_reward_weight
        self.style_reward_weight = style_reward_weight
        self._llc_digest = LowLevelDigest(llc, llc_model_file)
        if style_reward_weight != 0.0:
            self.storage.declare(STYLE_REWARD)

    # ------------------------------------------------------------------ loop hooks
    def rollout_extras(self, info: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The frozen discriminator's style reward of the step (`LatentActionEnv`'s info), when it is weighted."""
        if self.style_reward_weight == 0.0:
            return {}
        return {STYLE_REWARD: info[STYLE_REWARD]}

    def compute_rewards(self) -> dict[str, torch.Tensor]:
        """task_w x env reward + style_w x style reward; logs the style reward and the raw actions' length (z is
        their direction: a length near 0 would make it erratic)."""
        s = self.storage
        stats = {"hlc/action_norm": s.action.norm(dim=-1).mean()}
        if self.style_reward_weight == 0.0:
            s.reward.mul_(self.task_reward_weight)
            return stats
        style = s.extras[STYLE_REWARD]
        s.reward.copy_(self.task_reward_weight * s.reward + self.style_reward_weight * style)
        return {**stats, "style/reward_mean": style.mean(), "style/reward_std": style.std()}

    def _checkpointed(self) -> dict[str, Any]:
        """The HLC's own models and optimisers; of the low-level policy only its digest (its weights stay in
        llc_model_file)."""
        return {**super()._checkpointed(), "low_level": self._llc_digest}


class LowLevelDigest:
    """What an HLC checkpoint keeps of its low-level policy: the file it was loaded from and a SHA-256 digest of its
    weights and normalisers. Loading a checkpoint whose digest differs from the loaded low-level policy's fails: the
    HLC's latents mean nothing to another low-level policy."""

    def __init__(self, llc: LowLevelPolicy, model_file: str):
        self.model_file = model_file
        self.digest = weights_digest(llc)

    def state_dict(self) -> dict[str, str]:
        return {"model_file": self.model_file, "sha256": self.digest}

    def load_state_dict(self, state: dict[str, str]) -> None:
        if state["sha256"] != self.digest:
            raise ValueError(f"the checkpoint's high-level controller was trained on the low-level policy "
                             f"{state['model_file']!r}, whose weights differ from those of {self.model_file!r} "
                             f"(algo.llc_model_file)")


def weights_digest(module: torch.nn.Module) -> str:
    """SHA-256 of a module's state (names and values), the same on every device."""
    sha = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        sha.update(name.encode())
        sha.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return sha.hexdigest()


def low_level_run_config(model_file: str) -> DictConfig:
    """The saved config.yaml of the run that wrote `model_file` (load_low_level_policy has checked it exists)."""
    from mimickit.resume import saved_config_path  # the composition root's module, imported when used

    return OmegaConf.load(saved_config_path(model_file))


def low_level_mismatches(saved: DictConfig, env: AMPEnv, llc: LowLevelPolicy, uses_disc: bool) -> list[str]:
    """What differs between the low-level run's character observation, actions and (when `uses_disc`) discriminator
    observation and this env's; empty when the low-level policy can drive this env."""
    run = {
        "robot.mjcf (file name)": Path(saved.robot.mjcf).name,
        "sim.control_freq": int(saved.sim.control_freq),
        "env.global_obs": bool(saved.env.global_obs),
        "env.root_height_obs": bool(saved.env.root_height_obs),
        "env.key_bodies": list(saved.env.key_bodies),
        "env.action_scale": float(saved.env.action_scale),
    }
    here = {
        "robot.mjcf (file name)": Path(env.engine.mjcf).name,
        "sim.control_freq": round(1.0 / env.dt),
        "env.global_obs": env.global_obs,
        "env.root_height_obs": env.root_height_obs,
        "env.key_bodies": [env.engine.body_names[i] for i in env.key_body_ids.tolist()],
        "env.action_scale": env.action_scale,
    }
    if uses_disc:
        run["env.num_disc_obs_steps"], here["env.num_disc_obs_steps"] = int(saved.env.num_disc_obs_steps), \
            env.num_disc_obs_steps
    problems = [f"{key}: low-level run {run[key]!r}, this run {here[key]!r}" for key in run if run[key] != here[key]]
    if problems:
        return problems
    char_obs_dim = AMPEnv._compute_obs(env).shape[-1]  # the character part of a task env's observation
    sizes = [("character observation size", llc.obs_dim, char_obs_dim),
             ("action size", llc.model.actor.log_std.shape[0], env.action_dim)]
    if uses_disc:
        sizes.append(("discriminator observation size", llc.disc_normalizer.mean.shape[0], env.disc_obs_dim))
    return [f"{what}: low-level policy {a}, this env {b}" for what, a, b in sizes if a != b]
