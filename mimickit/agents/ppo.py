"""Proximal Policy Optimisation (Schulman et al. 2017) on the shared loop: clipped surrogate on normalised,
clipped GAE advantages."""
from __future__ import annotations

from typing import Any

import torch

from mimickit.agents.agent import Agent, UpdatePhase
from mimickit.agents.graphed_step import make_capturable
from mimickit.agents.losses import compute_normalized_advantages
from mimickit.agents.storage import Batch
from mimickit.envs.base_env import BaseEnv


def compute_clipped_surrogate_loss(
    log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor, clip_ratio: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)), rho = pi(a|s) / pi_old(a|s).

    Also returns the fraction of clipped ratios and an estimate of KL(pi_old || pi): mean((rho - 1) - log rho).
    """
    log_ratio = log_prob - old_log_prob
    ratio = torch.exp(log_ratio)
    surrogate = torch.minimum(advantages * ratio, advantages * torch.clamp(ratio, 1.0 - clip_ratio, 1.0 + clip_ratio))
    diagnostics = {
        "clip_frac": ((ratio - 1.0).abs() > clip_ratio).float().mean(),
        "approx_kl": ((ratio - 1.0) - log_ratio).mean(),
    }
    return -surrogate.mean(), diagnostics


def adapt_learning_rate(
    optimizer: torch.optim.Optimizer, kl: float, desired_kl: float, lr_range: tuple[float, float]
) -> float:
    """lr / 1.5 when kl > 2 desired_kl, lr * 1.5 when kl < desired_kl / 2, kept within lr_range; returns it."""
    factor = 1.0 / 1.5 if kl > 2.0 * desired_kl else 1.5 if kl < 0.5 * desired_kl else 1.0
    for group in optimizer.param_groups:
        group["lr"] = min(max(group["lr"] * factor, lr_range[0]), lr_range[1])
    return optimizer.param_groups[0]["lr"]


class PPOAgent(Agent):
    def __init__(
        self,
        env: BaseEnv,
        *,
        ppo_clip_ratio: float,
        norm_adv_clip: float | None,
        desired_kl: float | None,
        adaptive_lr_range: list[float],
        max_kl: float | None,
        **agent_kwargs: Any,
    ):
        """`agent_kwargs` are the shared loop's settings, documented in `Agent`.

        Args:
            ppo_clip_ratio: epsilon of the clipped surrogate.
            norm_adv_clip: normalised advantages are clipped to +-norm_adv_clip (None: no clip).
            desired_kl: after each iteration, the actor's learning rate is divided by 1.5 when the iteration's
                approximate KL exceeded twice this, multiplied by 1.5 when it stayed below half (rsl_rl's schedule),
                so the step fits the batch size (None: a fixed learning rate).
            adaptive_lr_range: [lowest, highest] learning rate the schedule may reach.
            max_kl: the actor's update of an iteration stops at the first minibatch (after the first) on which the
                policy has moved further than this approximate KL from the rollout's (None: never): its step and
                the rest are undone on the device (`skip_step`), so the rule costs no host read and the actor's
                step stays graphable. A guard against the rare update that moves the policy by nats and undoes the
                training.
        """
        super().__init__(env, **agent_kwargs)
        if ppo_clip_ratio <= 0:
            raise ValueError(f"ppo_clip_ratio must be positive, got {ppo_clip_ratio}")
        self.ppo_clip_ratio = ppo_clip_ratio
        self.norm_adv_clip = norm_adv_clip
        self.desired_kl = desired_kl
        self.adaptive_lr_range = (float(adaptive_lr_range[0]), float(adaptive_lr_range[1]))
        if max_kl is not None and max_kl <= 0:
            raise ValueError(f"max_kl must be positive or null, got {max_kl}")
        self.max_kl = max_kl
        # max_kl's state, on the device: the actor's steps so far this iteration and whether one went past max_kl
        self._actor_steps = torch.zeros((), dtype=torch.long, device=self.device)
        self._actor_stopped = torch.zeros((), dtype=torch.bool, device=self.device)
        if max_kl is not None and self.device.type == "cuda":
            make_capturable(self.phase("actor").optimizer)  # Adam's step count on the GPU: undoing it syncs nothing

    def prepare_advantages(self, advantages: torch.Tensor) -> dict[str, torch.Tensor]:
        norm_adv, mean, std = compute_normalized_advantages(advantages, self.norm_adv_clip)
        self.storage.advantage.copy_(norm_adv)
        return {"advantage/mean": mean, "advantage/std": std}

    def graphable_phase(self, phase: UpdatePhase) -> bool:
        """The actor's step stays eager under `desired_kl` (its learning rate changes every iteration)."""
        return super().graphable_phase(phase) and not (phase.name == "actor" and self.desired_kl is not None)

    def skip_step(self, phase: UpdatePhase, terms: dict[str, torch.Tensor]) -> torch.Tensor | None:
        if phase.name != "actor" or self.max_kl is None:
            return None
        self._actor_stopped.logical_or_((self._actor_steps > 0) & (terms["approx_kl"] > self.max_kl))
        self._actor_steps.add_(1)
        return self._actor_stopped

    def after_update(self, stats: dict[str, torch.Tensor | float]) -> dict[str, torch.Tensor | float]:
        """The adaptive learning rate (one host read of the iteration's KL), and whether max_kl stopped the actor
        (then its state starts over)."""
        out: dict[str, torch.Tensor | float] = {}
        if self.max_kl is not None:
            out["actor/stopped_early"] = self._actor_stopped.float()
            self._actor_stopped.zero_()
            self._actor_steps.zero_()
        if self.desired_kl is not None:
            out["actor/lr"] = adapt_learning_rate(self.phase("actor").optimizer, float(stats["actor/approx_kl"]),
                                                  self.desired_kl, self.adaptive_lr_range)
        return out

    def compute_actor_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        dist = self.model.action_distribution(self.model_input(batch.obs, batch.extras))
        surrogate, diagnostics = compute_clipped_surrogate_loss(
            dist.log_prob(batch.action), batch.log_prob, batch.advantage, self.ppo_clip_ratio
        )
        reg = self.actor_regularization(dist)
        terms = {"loss": surrogate + reg.pop("loss"), "surrogate_loss": surrogate.detach(), **reg}
        terms.update({k: v.detach() for k, v in diagnostics.items()})
        return terms
