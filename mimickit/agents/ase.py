"""Adversarial Skill Embeddings (Peng et al. 2022), low-level pre-training as MimicKit defines it (`ase_agent.py`):
AMP whose policy is conditioned on a latent skill code z, with an encoder that must recover z from what the character
did, so that different latents produce different, recognisable motions in the style of the clips.

On the loop's extension points, on top of AMP:
- the actor and critic take concat(normalised obs, raw z) (`model_input`, `LatentActorCritic`);
- each env holds a latent, resampled when its episode starts and after a random hold of U[latent_time_min,
  latent_time_max] seconds, both checked before each action (`_act`, vectorised, nothing waits for the device);
  `fixed_latent_seed` gives every env one fixed latent instead (test mode: one skill at a time);
- the rollout stores each step's z (storage extra `latent`), so targets and losses use the z each action was taken with;
- the reward is task_w * env + disc_w * style + enc_w * max(z . q(s'), 0) (`compute_rewards`);
- the encoder trains in its own update phase (`update.enc`), after the discriminator;
- the actor loss adds the diversity objective (`diversity_weight`, `diversity_tar`).

A high-level controller drives the trained policy with its own latents through `load_low_level_policy(model_file)`.
"""
from __future__ import annotations

import functools
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from mimickit.agents.adversarial import NEGATIVE
from mimickit.agents.agent import PolicyStep
from mimickit.agents.amp import AMPAgent
from mimickit.agents.ase_losses import (
    compute_diversity_loss,
    compute_enc_loss,
    compute_enc_reward,
    compute_latent_hold_steps,
    sample_latents,
)
from mimickit.agents.disc_losses import compute_disc_reward
from mimickit.agents.storage import Batch
from mimickit.config import Partial
from mimickit.envs.amp_env import AMPEnv
from mimickit.models.ase import Encoder, LatentActorCritic
from mimickit.models.discriminator import Discriminator
from mimickit.models.normalizer import RunningNormalizer
from mimickit.utils.checkpoint import load_checkpoint

LATENT = "latent"  # the storage field of the latent each action was taken with


class ASEAgent(AMPAgent):
    def __init__(
        self,
        env: AMPEnv,
        *,
        model: Partial[LatentActorCritic],
        encoder: Partial[Encoder],
        latent_dim: int,
        latent_time_min: float,
        latent_time_max: float,
        fixed_latent_seed: int | None,
        enc_reward_weight: float,
        diversity_weight: float,
        diversity_tar: float,
        **amp_kwargs: Any,
    ):
        """`amp_kwargs` are AMP's, PPO's and the loop's settings (`update` must hold `disc` and `enc` phases).

        Args:
            model: builds the `LatentActorCritic` from (obs_dim, action_dim, latent_dim).
            encoder: builds the `Encoder` from (env.disc_obs_dim, latent_dim).
            latent_dim: size of the latent skill codes (unit vectors).
            latent_time_min, latent_time_max: seconds a latent is held, drawn uniformly per env at each resample.
            fixed_latent_seed: None: latents as in training, also in test episodes (MimicKit); an integer: every env
                uses the one latent this seed draws, never resampled (mode=test with one skill).
            enc_reward_weight: weight of the encoder reward max(z . q(s'), 0) in the reward.
            diversity_weight, diversity_tar: weight and target ratio of the diversity objective in the actor loss.
        """
        if latent_dim <= 0 or not 0.0 <= latent_time_min <= latent_time_max:
            raise ValueError(f"need latent_dim > 0 and 0 <= latent_time_min <= latent_time_max, got {latent_dim}, "
                             f"{latent_time_min}, {latent_time_max}")
        super().__init__(env, model=functools.partial(model, latent_dim=latent_dim), **amp_kwargs)
        self.latent_dim = latent_dim
        self.latent_time_min = latent_time_min
        self.latent_time_max = latent_time_max
        self.fixed_latent_seed = fixed_latent_seed
        self.enc_reward_weight = enc_reward_weight
        self.diversity_weight = diversity_weight
        self.diversity_tar = diversity_tar
        self.encoder = encoder(obs_dim=env.disc_obs_dim, latent_dim=latent_dim).to(self.device)
        self.storage.declare(LATENT, (latent_dim,))
        self.add_phase("enc", self.compute_enc_loss, self.encoder.parameters())

        n = env.num_envs
        self.latents = sample_latents(n, latent_dim, self.device)  # (N, latent_dim), resampled in place
        self._latent_until = torch.zeros(n, dtype=torch.long, device=self.device)  # episode step of the next resample
        if fixed_latent_seed is not None:
            fixed = sample_latents(1, latent_dim, "cpu", torch.Generator().manual_seed(fixed_latent_seed))
            self.latents.copy_(fixed.expand(n, -1))

    # ------------------------------------------------------------------ latents
    @torch.no_grad()
    def update_latents(self) -> None:
        """New latents for the envs whose episode starts now (episode step 0: the episode's first action) or whose
        hold ran out; each new latent is held for `compute_latent_hold_steps` control steps. Runs before every action
        (`_act`), so an env's latent follows its own episode steps, with no host sync."""
        if self.fixed_latent_seed is not None:
            return
        step = self.env.episode_step
        resample = (step == 0) | (step >= self._latent_until)
        fresh = sample_latents(self.env.num_envs, self.latent_dim, self.device)
        self.latents.copy_(torch.where(resample.unsqueeze(-1), fresh, self.latents))
        u = torch.rand(self.env.num_envs, device=self.device)
        hold = compute_latent_hold_steps(u, self.latent_time_min, self.latent_time_max, self.env.dt)
        self._latent_until.copy_(torch.where(resample, step + hold, self._latent_until))

    def _act(self, obs: torch.Tensor, deterministic: bool) -> PolicyStep:
        """The loop's `_act` with this step's latents: rollouts, test episodes and playback all act through it."""
        self.update_latents()
        dist = self.model.latent_action_distribution(self.obs_normalizer.normalize(obs), self.latents)
        return self._policy_step(dist, deterministic)

    # ------------------------------------------------------------------ loop hooks
    def model_input(self, obs: torch.Tensor, extras: dict[str, torch.Tensor]) -> torch.Tensor:
        """concat(normalised obs, the sample's latent); a step's next obs is valued with the latent of its action."""
        return self.model.policy_input(self.obs_normalizer.normalize(obs), extras[LATENT])

    def rollout_extras(self, info: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {**super().rollout_extras(info), LATENT: self.latents}

    def compute_rewards(self) -> dict[str, torch.Tensor]:
        """AMP's task and style rewards, plus enc_w x the encoder reward of each step's disc obs after the step, with
        the encoder and normaliser of before this iteration's update."""
        stats = super().compute_rewards()
        enc_pred = self.encoder(self.disc_normalizer.normalize(self.storage.flat(NEGATIVE)))
        enc_reward = compute_enc_reward(self.storage.flat(LATENT), enc_pred).view_as(self.storage.reward)
        self.storage.reward.add_(self.enc_reward_weight * enc_reward)
        return {**stats, "enc/reward_mean": enc_reward.mean(), "enc/reward_std": enc_reward.std()}

    def compute_actor_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """PPO's loss plus diversity_weight x the diversity objective on the minibatch."""
        terms = super().compute_actor_loss(batch)
        if self.diversity_weight == 0.0:
            return terms
        new_latents = sample_latents(len(batch.obs), self.latent_dim, self.device)
        loss, ratio = diversity_objective(self.model, self.obs_normalizer.normalize(batch.obs), batch.extras[LATENT],
                                          new_latents, self.diversity_tar)
        terms["loss"] = terms["loss"] + self.diversity_weight * loss
        return {**terms, "diversity_loss": loss.detach(), "diversity_ratio": ratio}

    def compute_enc_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """mean(-z . q(s')) on the minibatch's disc obs and latents."""
        enc_pred = self.encoder(self.disc_normalizer.normalize(batch.extras[NEGATIVE]))
        return {"loss": compute_enc_loss(batch.extras[LATENT], enc_pred)}

    def set_training(self, training: bool) -> None:
        super().set_training(training)
        self.encoder.train(training)

    def _checkpointed(self) -> dict[str, Any]:
        return {**super()._checkpointed(), "encoder": self.encoder}

    # ------------------------------------------------------------------ for a high-level controller
    def low_level_policy(self) -> LowLevelPolicy:
        """This agent's policy as a high-level controller calls it (sharing its modules, not frozen)."""
        return LowLevelPolicy(self.model, self.obs_normalizer, self.discriminator, self.disc_normalizer,
                              self.disc_reward_scale)


def diversity_objective(
    model: LatentActorCritic,
    norm_obs: torch.Tensor,
    latents: torch.Tensor,
    new_latents: torch.Tensor,
    target: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`compute_diversity_loss` of the policy means for the samples' latents and for `new_latents`, both in one pass
    of the actor; returns (loss, mean ratio)."""
    inputs = torch.cat([model.policy_input(norm_obs, latents), model.policy_input(norm_obs, new_latents)])
    mean, new_mean = model.action_distribution(inputs).mean.chunk(2)
    return compute_diversity_loss(mean, new_mean, latents, new_latents, target)


class LowLevelPolicy(nn.Module):
    """A trained ASE low-level policy as a high-level controller uses it: `forward(obs, latents)` gives the
    deterministic (mean) action for raw env observations (N, obs_dim) and unit latents (N, latent_dim), in policy
    units, which are the env's for a character env (its action bounds are [-1, 1]). `style_reward(disc_obs)` is its
    discriminator's AMP reward, without the reward weight. Build it with `load_low_level_policy(model_file)`."""

    def __init__(
        self,
        model: LatentActorCritic,
        obs_normalizer: RunningNormalizer,
        discriminator: Discriminator,
        disc_normalizer: RunningNormalizer,
        disc_reward_scale: float,
    ):
        super().__init__()
        self.model = model
        self.obs_normalizer = obs_normalizer
        self.discriminator = discriminator
        self.disc_normalizer = disc_normalizer
        self.disc_reward_scale = disc_reward_scale

    @property
    def obs_dim(self) -> int:
        return self.model.obs_dim

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim

    @torch.no_grad()
    def forward(self, obs: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        dist = self.model.latent_action_distribution(self.obs_normalizer.normalize(obs), latents)
        return dist.mode

    @torch.no_grad()
    def style_reward(self, disc_obs: torch.Tensor) -> torch.Tensor:
        """(N,) -log(max(1 - sigmoid(D), 1e-4)) x disc_reward_scale of (N, disc_obs_dim) discriminator observations."""
        logits = self.discriminator(self.disc_normalizer.normalize(disc_obs))
        return compute_disc_reward(logits, self.disc_reward_scale)


def load_low_level_policy(model_file: str, device: str | torch.device = "cpu") -> LowLevelPolicy:
    """The frozen (eval mode, no gradients) low-level policy of an ASE checkpoint, rebuilt from the run's saved
    `config.yaml` beside it (as mode=test does) and its weights and normalisers."""
    from mimickit.resume import saved_config_path  # the composition root's module, imported when used

    config_path = saved_config_path(model_file)
    if config_path is None:
        raise FileNotFoundError(f"no config.yaml beside {model_file!r} (or one level up): it is needed to rebuild the "
                                "low-level policy's networks")
    algo = OmegaConf.load(config_path).algo
    if algo._target_ != f"{ASEAgent.__module__}.{ASEAgent.__name__}":
        raise ValueError(f"{model_file!r} was trained by {algo._target_}, not an ASE agent")
    state = load_checkpoint(model_file, map_location=device)
    obs_dim = state["obs_normalizer"]["mean"].shape[0]
    disc_obs_dim = state["disc_normalizer"]["mean"].shape[0]
    action_dim = state["model"]["actor.log_std"].shape[0]
    model = instantiate(algo.model)(obs_dim=obs_dim, action_dim=action_dim, latent_dim=algo.latent_dim)
    discriminator = instantiate(algo.discriminator)(obs_dim=disc_obs_dim)
    obs_normalizer = RunningNormalizer(obs_dim, clip=algo.obs_clip)
    disc_normalizer = RunningNormalizer(disc_obs_dim, clip=algo.obs_clip)
    policy = LowLevelPolicy(model, obs_normalizer, discriminator, disc_normalizer, algo.disc_reward_scale)
    for name in ("model", "obs_normalizer", "discriminator", "disc_normalizer"):
        getattr(policy, name).load_state_dict(state[name])
    policy.to(device).eval()
    policy.requires_grad_(False)
    return policy
