"""The one training loop: rollout -> rewards -> returns -> update phases -> log -> test episodes -> checkpoint.

PPO and AWR subclass `Agent` and supply their advantage preparation and actor loss. Methods that learn more than a
policy (AMP, ADD, ASE) extend the loop at four points without editing it:
- models arrive built from config (`model` is a partial of its `_target_`; a method builds its own networks the
  same way from its own keys);
- `storage.declare(name, shape)` adds per-sample fields to the rollout, filled each step from
  `rollout_extras(info)` or after the rollout;
- `compute_rewards()` runs between the rollout and the returns (a style reward mixed with the env's reward);
- the update is an ordered list of phases (`update:` in conf/algo, each with its optimiser, epochs and minibatch
  size); a method adds its phase with `add_phase(name, loss, parameters)`.
Batch sizes are multiples of `num_envs`, so one config runs 64 CPU envs or 4096 GPU envs.
"""
from __future__ import annotations

import abc
import functools
import itertools
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import torch
from torch import nn

from mimickit.agents.episode_tracker import (
    MEAN_SQUARE_PREFIX,
    EpisodeTracker,
    standard_errors,
)
from mimickit.agents.graphed_step import GraphedStep, make_capturable
from mimickit.agents.losses import compute_action_bound_loss, compute_value_loss
from mimickit.agents.optim import build_optimizer, step_unless
from mimickit.agents.returns import compute_gae, compute_next_values
from mimickit.agents.storage import Batch, RolloutStorage, Transition
from mimickit.config import KwargsOf, Partial
from mimickit.envs.base_env import BaseEnv
from mimickit.loggers.base import Logger
from mimickit.models.actor_critic import ActorCritic, DiagGaussian
from mimickit.models.normalizer import RunningNormalizer
from mimickit.utils import distributed
from mimickit.utils.checkpoint import (
    CHECKPOINT_NAME,
    INTERMEDIATE_DIR,
    CheckpointError,
    capture_rng_state,
    intermediate_checkpoint_path,
    is_policy_file,
    load_checkpoint,
    restore_rng_state,
    run_checkpoints,
    save_checkpoint,
    save_json,
)
from mimickit.utils.preemption import checkpoint_if_preempted
from mimickit.utils.timer import SectionTimer

log = logging.getLogger(__name__)

METRICS_NAME = "metrics.json"
# test episodes check for completion every this many steps: one host sync per check, not per step
TEST_SYNC_INTERVAL = 16

LossFn = Callable[[Batch], dict[str, torch.Tensor]]


@dataclass
class PhaseSettings:
    """One phase of the update, as written under `update:` in conf/algo."""

    epochs: int  # passes over the rollout
    batch_size: float  # samples per minibatch, as a multiple of num_envs
    optimizer: Any  # see build_optimizer: a partial of a torch.optim class (`_target_`, `_partial_: true`)
    autocast: str | None  # "bf16": the phase's forward passes and loss in bfloat16 (torch.autocast); None: float32


# torch.autocast's dtypes by their name in conf/algo
AUTOCAST_DTYPES = {"bf16": torch.bfloat16}
# Phases whose loss uses the policy's log-probabilities (PPO: against the rollout's float32 ones): bfloat16's 8-bit
# mantissa moves a policy mean by ~0.4 % of its size, and with the 0.05 action std a log-prob by ~0.4, twice PPO's
# clip range.
FLOAT32_PHASES = ("actor",)


@dataclass
class UpdatePhase:
    """`epochs` passes of minibatch SGD of `loss` over the rollout, stepping `optimizer`."""

    name: str
    loss: LossFn
    optimizer: torch.optim.Optimizer
    epochs: int
    batch_size: int  # samples
    autocast: torch.dtype | None  # the dtype of torch.autocast around the loss, None: none


@dataclass
class PolicyStep:
    action: torch.Tensor  # (N, action_dim) in the env's units, what env.step receives
    norm_action: torch.Tensor  # (N, action_dim) in [-1, 1] policy units, what the losses see
    log_prob: torch.Tensor  # (N,)


class _NullLogger(Logger):
    def log(self, scalars: Mapping[str, float], step: int) -> None:
        pass


class Agent(abc.ABC):
    """Owns the models, optimisers, rollout storage, loop, test episodes, logging and checkpoints.

    Subclasses implement `prepare_advantages` (turn raw GAE advantages into what their actor loss uses) and
    `compute_actor_loss`. The policy acts in [-1, 1] units mapped linearly onto `env.action_bounds`. Every
    setting comes from conf/algo/*.yaml, the one place its default is written.
    """

    def __init__(
        self,
        env: BaseEnv,
        *,
        model: Partial[ActorCritic],
        update: dict[str, Annotated[dict, KwargsOf(PhaseSettings)]],
        discount: float,
        td_lambda: float,
        steps_per_iter: int,
        iters_per_output: int,
        test_episodes: int,
        normalizer_samples: int | None,
        obs_clip: float | None,
        grad_clip: float | None,
        value_clip: float | None,
        action_bound_weight: float,
        entropy_weight: float,
        save_intermediate: bool,
        resume_from: str | None,
        unstable_warning_share: float,
        graph_update: bool,
        logger: Logger | None = None,
        out_dir: str = ".",
        device: str = "cpu",
    ):
        """
        Args:
            model: builds the `ActorCritic` from (obs_dim, action_dim): its `_target_` with `_partial_: true`.
            update: the update's phases in order, {name: PhaseSettings}; this class runs "critic" and "actor",
                subclasses add theirs (`add_phase`).
            discount, td_lambda: gamma and lambda of GAE / TD(lambda).
            steps_per_iter: env steps per env collected each iteration.
            iters_per_output: period (iterations) of logging, test episodes and checkpoints.
            test_episodes: episodes of each periodic test (0 skips them).
            normalizer_samples: observation samples after which the normaliser freezes (None: never).
            obs_clip: normalised observations are clipped to +-obs_clip (None: no clip).
            grad_clip: max global gradient norm per optimiser step (None: no clipping).
            value_clip: PPO-style clipping of the value update around the old values (None: plain MSE).
            action_bound_weight: weight of the penalty on the policy mean leaving the action bounds.
            entropy_weight: weight of the entropy bonus (useful with a learned std).
            save_intermediate: also keep `checkpoints/iter_XXXXXX.pt` at every output.
            resume_from: checkpoint that `train` continues from.
            unstable_warning_share: warn (once) when more than this share of an iteration's env steps ended in a
                simulation blow-up (`env.num_unstable_resets`); such steps are failures no policy can avoid.
            graph_update: on a CUDA device, replay each graphable phase's minibatch step (loss, backward, optimiser
                step) as one CUDA graph (`GraphedStep`, `graphable_phase`); no effect on the CPU.
            logger, out_dir, device: given by the composition root.
        """
        for name, value in [("steps_per_iter", steps_per_iter), ("iters_per_output", iters_per_output),
                            *((f"update.{k}.epochs", v["epochs"]) for k, v in update.items())]:
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if not 0.0 <= discount < 1.0 or not 0.0 <= td_lambda <= 1.0:
            raise ValueError(f"need 0 <= discount < 1 and 0 <= td_lambda <= 1, got {discount}, {td_lambda}")
        self.env = env
        self.logger = logger if logger is not None else _NullLogger()
        self.out_dir = out_dir
        self.device = torch.device(device)
        self.discount = discount
        self.td_lambda = td_lambda
        self.steps_per_iter = steps_per_iter
        self.iters_per_output = iters_per_output
        self.test_episodes = test_episodes
        self.grad_clip = grad_clip
        self.value_clip = value_clip
        self.action_bound_weight = action_bound_weight
        self.entropy_weight = entropy_weight
        self.save_intermediate = save_intermediate
        self.resume_from = resume_from
        self.unstable_warning_share = unstable_warning_share
        self.graph_update = graph_update and self.device.type == "cuda"
        self._graphed_steps: dict[str, GraphedStep] = {}
        # several workers (mimickit.utils.distributed): each steps its own envs; only rank 0 logs and checkpoints
        self.world_size = distributed.get_world_size()
        self.is_main_process = distributed.get_rank() == 0

        self.model = model(obs_dim=env.obs_dim, action_dim=env.action_dim).to(self.device)
        self.obs_normalizer = RunningNormalizer(env.obs_dim, clip=obs_clip, max_samples=normalizer_samples)
        self.obs_normalizer.to(self.device)
        self._phase_settings = dict(update)
        self.phases: list[UpdatePhase] = []
        self.add_phase("critic", self.compute_critic_loss, self.model.critic_parameters())
        self.add_phase("actor", self.compute_actor_loss, self.model.actor_parameters())
        self._action_offset, self._action_scale, self._bounded_dims = _action_mapping(env, self.device)

        self.storage = RolloutStorage(steps_per_iter, env.num_envs, env.obs_dim, env.action_dim, self.device)
        self.train_episodes = EpisodeTracker(env.num_envs, self.device)
        self.iteration = 0
        self.sample_count = 0
        self.wall_time = 0.0
        self._obs: torch.Tensor | None = None
        self._unstable_resets_seen = 0  # env.num_unstable_resets when the current iteration's rollout began
        self._warned_unstable = False

    # ------------------------------------------------------------------ public API
    @property
    def checkpoint_path(self) -> str:
        return os.path.join(self.out_dir, CHECKPOINT_NAME)

    def train(self, max_iters: int, resume: bool = False) -> dict[str, float]:
        """Train until `iteration == max_iters`; returns (and writes to metrics.json) the last logged stats.

        `resume` (the run directory's checkpoint) or else `resume_from` restores a checkpoint first: the run
        continues exactly as an uninterrupted one would, because every output iteration ends by resetting all
        envs, and the checkpoint holds the RNG states taken just before that reset.
        """
        unused = [name for name in self._phase_settings if all(p.name != name for p in self.phases)]
        if unused:
            raise ValueError(f"update phases {unused} are configured but {type(self).__name__} has no such phase; "
                             f"it runs {[p.name for p in self.phases]}")
        if resume:  # before `resume_from`: a continued run's own checkpoint is newer than its starting point
            self._resume()
        elif self.resume_from is not None:  # not `load`: a policy file cannot be trained on
            self._restore(load_checkpoint(self.resume_from, map_location=self.device), self.resume_from)
        if self.world_size > 1:  # every worker starts from rank 0's models
            distributed.broadcast_modules(self._checkpointed().values())
        self._start_segment()
        row: dict[str, float] = {}
        while self.iteration < max_iters:
            start = time.perf_counter()
            stats = self._train_iteration()
            self.iteration += 1
            self.sample_count += self.storage.num_samples * self.world_size
            row = self._iteration_row(stats, time.perf_counter() - start)
            if self.is_main_process:
                self.logger.progress({**row, "max_iters": max_iters}, self.sample_count)
            if self.iteration % self.iters_per_output == 0 or self.iteration == max_iters:
                row.update(_prefixed("test/", self._run_test_episodes(self.test_episodes)))
                self._output(row)
                self._start_segment()
            if self.is_main_process:  # SLURM preemption: checkpoint now if a requeue signal is pending
                checkpoint_if_preempted(lambda: self.save(self.checkpoint_path))
        metrics = {**row, "return": row.get("test/return", row.get("train/return", math.nan))}
        self._write_metrics(metrics)
        return metrics

    def test(self, num_episodes: int) -> dict[str, Any]:
        """Run deterministic (mean-action) episodes; returns mean return, episode length, number of episodes, the
        per-episode means of the env's "episode/*" info keys and, under "standard_error", each mean's standard error
        over the episodes (all also written to metrics.json): whether a goal is met, or within noise of it."""
        metrics: dict[str, Any] = self._run_test_episodes(num_episodes, with_standard_errors=True)
        self._write_metrics(metrics)
        return metrics

    @torch.no_grad()
    def policy_action(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic (mean) action in the env's units: what test episodes and playback apply."""
        return self._act(obs, deterministic=True).action

    def save(self, path: str) -> None:
        """Atomically write everything needed to resume (models, optimisers, normalisers, counters, RNGs)."""
        state = {name: obj.state_dict() for name, obj in self._checkpointed().items()}
        state.update(
            algorithm=type(self).__name__,
            iteration=self.iteration,
            sample_count=self.sample_count,
            wall_time=self.wall_time,
            rng=capture_rng_state(),
        )
        save_checkpoint(path, state)

    def load(self, path: str) -> None:
        """Load a checkpoint, or a policy file (mimickit.tools.export_policy) for acting only. The checkpoint's RNG
        state is left out: the episodes of mode=test/eval/play follow this run's `seed`, not the training's."""
        state = load_checkpoint(path, map_location=self.device)
        if is_policy_file(state):
            self._restore_policy(state, path)
        else:
            self._restore(state, path, restore_rng=False)

    def _resume(self) -> None:
        """Restore the run directory's `model.pt`; when it is unreadable (a crash of the disk, not of the atomic
        write), the newest intermediate checkpoint that loads, saying so."""
        errors = []
        for path in run_checkpoints(self.out_dir):
            try:
                state = load_checkpoint(path, map_location=self.device)
            except CheckpointError as err:
                log.warning("%s; trying an earlier checkpoint", err)
                errors.append(str(err))
                continue
            if errors:
                log.warning("resuming from %s: the newest readable checkpoint (%d unreadable)", path, len(errors))
            self._restore(state, path)
            log.info("resumed from %s at iteration %d", path, self.iteration)
            return
        if errors:
            raise CheckpointError(f"no readable checkpoint in {self.out_dir!r}: " + "; ".join(errors))
        raise FileNotFoundError(f"nothing to resume in {self.out_dir!r}: no {CHECKPOINT_NAME} and no "
                                f"{INTERMEDIATE_DIR}/iter_*.pt")

    def _restore(self, state: dict[str, Any], path: str, restore_rng: bool = True) -> None:
        if is_policy_file(state):
            raise CheckpointError(f"{path!r} is a policy file (mimickit.tools.export_policy): it holds the actor and "
                                  "the observation normaliser only, no critic, optimiser or RNG state, so training "
                                  "cannot resume from it; it is for mode=test/eval/play and export_onnx. Resume "
                                  "from the run's full checkpoint")
        missing = [name for name in self._checkpointed() if name not in state]
        if missing:
            raise KeyError(f"checkpoint {path!r} lacks {missing}; it holds {sorted(state)}")
        for name, obj in self._checkpointed().items():
            try:
                obj.load_state_dict(state[name])
            except (RuntimeError, ValueError, KeyError) as err:  # e.g. other network sizes than this run's
                raise CheckpointError(f"checkpoint {path!r} does not fit this run's {name}: {err}") from None
        self._restore_counters(state)
        if not restore_rng:
            return
        restore_rng_state(state["rng"])
        if self.world_size > 1:  # all workers restored rank 0's RNG state
            distributed.split_rng_streams()

    def _restore_counters(self, state: dict[str, Any]) -> None:
        self.iteration = int(state["iteration"])
        self.sample_count = int(state["sample_count"])
        self.wall_time = float(state["wall_time"])

    def _restore_policy(self, state: dict[str, Any], path: str) -> None:
        """The actor (float16 in the file, cast to the model's dtype) and the observation normaliser; the critic
        keeps its initial weights and the RNGs their seeded state, which acting does not use."""
        other = [k for k in state["model"] if not k.startswith("actor.")]
        if other:
            raise CheckpointError(f"policy file {path!r} holds model entries other than the actor's: {other[:4]}")
        actor = self.model.actor.state_dict()
        weights = {k.removeprefix("actor."): v for k, v in state["model"].items()}
        try:  # strict: every actor entry, no other
            self.model.actor.load_state_dict({k: v.to(actor[k].dtype) if k in actor else v
                                              for k, v in weights.items()})
            self.obs_normalizer.load_state_dict(state["obs_normalizer"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(f"policy file {path!r} does not fit this run's actor or normaliser: {err}") from None
        self._restore_counters(state)

    # ------------------------------------------------------------------ extension points
    def add_phase(self, name: str, loss: LossFn, parameters: Iterable[nn.Parameter]) -> None:
        """Register an update phase whose settings are `update.<name>` in the config; phases run in the config's
        order."""
        if name not in self._phase_settings:
            raise KeyError(f"{type(self).__name__} needs update.{name} (epochs, batch_size, optimizer) in its "
                           f"config; it has update.{{{', '.join(self._phase_settings)}}}")
        settings = self._phase_settings[name]
        autocast = settings["autocast"]
        if autocast is not None and (autocast not in AUTOCAST_DTYPES or name in FLOAT32_PHASES):
            raise ValueError(f"update.{name}.autocast={autocast!r}: use null or one of {list(AUTOCAST_DTYPES)}, and "
                             f"null for the phases {list(FLOAT32_PHASES)} (their log-probs need float32)")
        phase = UpdatePhase(name, loss, build_optimizer(settings["optimizer"], parameters), int(settings["epochs"]),
                            max(1, math.ceil(settings["batch_size"] * self.env.num_envs)),
                            AUTOCAST_DTYPES.get(autocast))
        self.phases.append(phase)
        order = list(self._phase_settings)
        self.phases.sort(key=lambda p: order.index(p.name))

    def phase(self, name: str) -> UpdatePhase:
        return next(p for p in self.phases if p.name == name)

    def rollout_extras(self, info: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-step values for the storage's declared extra fields (e.g. info["disc_obs"]); none by default."""
        return {}

    def model_input(self, obs: torch.Tensor, extras: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """What the actor and critic see for stored samples: raw observations (..., obs_dim) and the same samples'
        storage extras (targets, critic and actor losses); the normalised observations. A method whose policy is
        conditioned on more (ASE's latent) appends it here, and overrides `_act` to do the same while acting."""
        return self.obs_normalizer.normalize(obs)

    def compute_rewards(self) -> dict[str, torch.Tensor]:
        """Runs after the rollout, before the returns: rewrite `self.storage.reward` (which holds the env's
        reward) with what the method trains on; return detached diagnostics."""
        return {}

    def after_update(self, stats: dict[str, torch.Tensor | float]) -> dict[str, torch.Tensor | float]:
        """Runs after the update phases with their statistics (schedules that follow the update); returns more."""
        return {}

    # ------------------------------------------------------------------ algorithm hooks
    @abc.abstractmethod
    def prepare_advantages(self, advantages: torch.Tensor) -> dict[str, torch.Tensor]:
        """Write what the actor loss needs into `self.storage.advantage` from raw GAE advantages (T, N);
        return detached diagnostics."""

    @abc.abstractmethod
    def compute_actor_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """{"loss": scalar to minimise, other keys: detached diagnostics}."""

    def compute_critic_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        values = self.model.value(self.model_input(batch.obs, batch.extras))
        return {"loss": compute_value_loss(values, batch.target_return, batch.value, self.value_clip)}

    def actor_regularization(self, dist: DiagGaussian) -> dict[str, torch.Tensor]:
        """Action-bound penalty and entropy bonus, weighted; "loss" is their sum."""
        terms: dict[str, torch.Tensor] = {"loss": torch.zeros((), device=self.device)}
        if self.action_bound_weight != 0.0 and self._bounded_dims.numel() > 0:
            bound_loss = compute_action_bound_loss(dist.mean.index_select(-1, self._bounded_dims))
            terms["loss"] = terms["loss"] + self.action_bound_weight * bound_loss
            terms["action_bound_loss"] = bound_loss.detach()
        if self.entropy_weight != 0.0:
            entropy = dist.entropy().mean()
            terms["loss"] = terms["loss"] - self.entropy_weight * entropy
            terms["entropy"] = entropy.detach()
        return terms

    def optimizer_step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        """The one place gradients are applied; with several workers they are averaged over all of them
        between `backward` and the clipping."""
        params = [p for group in optimizer.param_groups for p in group["params"]]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.world_size > 1:
            distributed.all_reduce_gradients(params)
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(params, self.grad_clip)
        optimizer.step()

    # ------------------------------------------------------------------ the loop
    def _train_iteration(self) -> dict[str, torch.Tensor | float]:
        timer = SectionTimer(self.device)
        self._rollout(timer)
        with torch.no_grad():
            stats: dict[str, torch.Tensor | float] = dict(self.compute_rewards())
        stats.update(self._compute_targets())
        self.set_training(True)
        for phase in self.phases:
            stats.update(_prefixed(f"{phase.name}/", self._run_epochs(phase)))
        self.set_training(False)
        stats.update(self.after_update(stats))
        # after the update: rollout and update saw one fixed normalisation
        self.update_normalizers()
        timer.lap("update")
        stats.update({f"time/{name}_s": seconds for name, seconds in timer.totals().items()})
        return stats

    def set_training(self, training: bool) -> None:
        """Train/eval mode of every model; subclasses with more models extend it."""
        self.model.train(training)

    def update_normalizers(self) -> None:
        """Fold this iteration's recorded samples into the normalisers; subclasses with more extend it."""
        self.obs_normalizer.update()

    @torch.no_grad()
    def _rollout(self, timer: SectionTimer) -> None:
        """Collect `steps_per_iter` steps of every env into the storage; nothing here waits for the device."""
        self.set_training(False)
        self.storage.clear()
        for _ in range(self.steps_per_iter):
            step = self._act(self._obs, deterministic=False)
            timer.lap("policy")
            next_obs, reward, done, info = self.env.step(step.action)
            timer.lap("env")
            self.storage.add(Transition(self._obs, step.norm_action, step.log_prob, reward, done, next_obs,
                                        self.rollout_extras(info)))
            self.train_episodes.update(reward, done, info)
            self.obs_normalizer.record(self._obs)
            timer.lap("storage")
            self._obs = self.env.reset_done(done)
            timer.lap("env")

    @torch.no_grad()
    def _compute_targets(self) -> dict[str, torch.Tensor]:
        """Values, GAE advantages and TD(lambda) returns of the stored rollout."""
        s = self.storage
        values = self.model.value(self.model_input(s.obs, s.extras))
        next_values = self.model.value(self.model_input(s.next_obs, s.extras))
        next_values = compute_next_values(next_values, s.done)
        advantages = compute_gae(s.reward, values, next_values, s.done, self.discount, self.td_lambda)
        s.value.copy_(values)
        s.target_return.copy_(advantages + values)
        return {"critic/target_return_mean": s.target_return.mean(), **self.prepare_advantages(advantages)}

    def _run_epochs(self, phase: UpdatePhase) -> dict[str, torch.Tensor]:
        """Minibatch SGD over the rollout; returns the mean of each loss term over its minibatches (also those whose
        step `skip_step` undid). With `graph_update`, graphable phases replay their step."""
        sums: dict[str, torch.Tensor] = {}
        num_steps = 0
        graphed = self._graphed_step(phase)
        for batch in self.storage.minibatches(phase.batch_size, phase.epochs):
            if graphed is not None and graphed.fits(batch):
                terms = graphed(batch)
            else:
                terms = self._sgd_step(phase, batch)
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + value
            num_steps += 1
        return {key: total / num_steps for key, total in sums.items()}

    def _phase_loss(self, phase: UpdatePhase, batch: Batch) -> dict[str, torch.Tensor]:
        with torch.autocast(self.device.type, dtype=phase.autocast, enabled=phase.autocast is not None):
            return phase.loss(batch)

    def _sgd_step(self, phase: UpdatePhase, batch: Batch) -> dict[str, torch.Tensor]:
        """One minibatch step of `phase` (eager, or as a `GraphedStep` records it); returns the detached loss
        terms."""
        terms = self._phase_loss(phase, batch)
        skip = self.skip_step(phase, terms)
        if skip is None:
            self.optimizer_step(phase.optimizer, terms["loss"])
        else:
            step_unless(skip, phase.optimizer, functools.partial(self.optimizer_step, phase.optimizer, terms["loss"]))
        return {key: value.detach() for key, value in terms.items()}

    def _graphed_step(self, phase: UpdatePhase) -> GraphedStep | None:
        """The phase's CUDA-graphed step (made at its first update), or None where it runs eagerly."""
        if not (self.graph_update and self.graphable_phase(phase)):
            return None
        if phase.name not in self._graphed_steps:
            make_capturable(phase.optimizer)
            self._graphed_steps[phase.name] = GraphedStep(functools.partial(self._sgd_step, phase), phase.batch_size)
        return self._graphed_steps[phase.name]

    def graphable_phase(self, phase: UpdatePhase) -> bool:
        """Whether `phase`'s minibatch step may be replayed as a CUDA graph: not under autocast (its weight cache
        does not survive a capture), with one worker (no gradient all-reduce inside a graph), and, in subclasses
        that override this, without a learning rate that changes between iterations (a graph holds the one it was
        captured with)."""
        return phase.autocast is None and self.world_size == 1

    def skip_step(self, phase: UpdatePhase, terms: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """A device flag: whether the step on the minibatch whose loss terms are `terms` is to be undone (None:
        never). Subclasses with a stopping rule override it (PPO: its `max_kl`); decided on the device, the rule
        costs no host read and the step stays graphable."""
        return None

    def _act(self, obs: torch.Tensor, deterministic: bool) -> PolicyStep:
        return self._policy_step(self.model.action_distribution(self.obs_normalizer.normalize(obs)), deterministic)

    def _policy_step(self, dist: DiagGaussian, deterministic: bool) -> PolicyStep:
        """The action (mode or sample) of the policy's distribution, in normalised and env units, and its log-prob."""
        norm_action = dist.mode if deterministic else dist.sample()
        action = self._action_offset + self._action_scale * norm_action
        return PolicyStep(action=action, norm_action=norm_action, log_prob=dist.log_prob(norm_action))

    def _start_segment(self) -> None:
        """Reset all envs and the running episode statistics (training start, and after each output)."""
        self._obs = self.env.reset()
        self.train_episodes.reset()
        self._unstable_resets_seen = self.env.num_unstable_resets  # test episodes' blow-ups are not the rollout's

    @torch.no_grad()
    def play_test_episodes(self, num_episodes: int, keep_episodes: bool = False,
                           obs: torch.Tensor | None = None) -> EpisodeTracker:
        """Deterministic (mean-action) episodes from a reset of every env (`obs`: the observations of one the caller
        made, to look at the start states), until each env has finished its share of `num_episodes`; the tracker
        returned holds their statistics (and with `keep_episodes` each episode's)."""
        self.set_training(False)
        tracker = EpisodeTracker(self.env.num_envs, self.device, math.ceil(num_episodes / self.env.num_envs),
                                 keep_episodes)
        obs = self.env.reset() if obs is None else obs
        for step in itertools.count():
            _, reward, done, info = self.env.step(self.policy_action(obs))
            tracker.update(reward, done, info)
            obs = self.env.reset_done(done)
            if step % TEST_SYNC_INTERVAL == TEST_SYNC_INTERVAL - 1 and bool(tracker.all_envs_done()):
                break
        return tracker

    def _run_test_episodes(self, num_episodes: int, with_standard_errors: bool = False) -> dict[str, Any]:
        if num_episodes <= 0:
            return {}
        tracker = self.play_test_episodes(num_episodes)
        summary = _to_floats(self._episode_summary(tracker, with_standard_errors))
        if not with_standard_errors:
            return summary
        means = {k: v for k, v in summary.items() if not k.startswith(MEAN_SQUARE_PREFIX)}
        return {**means, "standard_error": standard_errors(summary)}

    # ------------------------------------------------------------------ output
    def _iteration_row(self, stats: dict[str, torch.Tensor | float], seconds: float) -> dict[str, float]:
        """All of an iteration's statistics as floats: one host sync for the whole iteration (then, with the device
        idle, a read of the env's blow-up counter)."""
        self.wall_time += seconds
        row: dict[str, float] = {
            "iteration": self.iteration,
            "samples": self.sample_count,
            "wall_time_s": self.wall_time,
            "samples_per_s": self.storage.num_samples * self.world_size / max(seconds, 1e-9),
            "time/iteration_s": seconds,
        }
        device_stats = dict(_prefixed("train/", self._episode_summary(self.train_episodes)))
        device_stats["policy/action_std"] = self.model.actor.log_std.exp().mean()
        device_stats["obs_norm/mean_abs"] = self.obs_normalizer.mean.abs().mean()
        device_stats["obs_norm/std_mean"] = self.obs_normalizer.std.mean()
        update_stats = {k: v for k, v in stats.items() if torch.is_tensor(v)}
        device_stats.update(distributed.all_reduce_mean(update_stats) if self.world_size > 1 else update_stats)
        row.update(_to_floats(device_stats))
        row.update({k: float(v) for k, v in stats.items() if not torch.is_tensor(v)})
        row.update(self._unstable_reset_counts())
        self._warn_if_unstable(row["sim/unstable_resets"])
        return row

    def _unstable_reset_counts(self) -> dict[str, float]:
        """Envs reset because their simulation diverged, summed over workers: in this iteration's rollout, and in
        total since the env was built (test episodes included; a resumed run counts from its restart)."""
        total = self.env.num_unstable_resets
        counts = [total - self._unstable_resets_seen, total]
        self._unstable_resets_seen = total
        if self.world_size > 1:
            summed = torch.tensor(counts, dtype=torch.float64, device=self.device)
            distributed.all_reduce_([summed])
            counts = summed.tolist()
        return {"sim/unstable_resets": float(counts[0]), "sim/unstable_resets_total": float(counts[1])}

    def _warn_if_unstable(self, unstable_resets: float) -> None:
        """One warning, the first time the blow-ups pass `unstable_warning_share` of an iteration's env steps:
        the counts in the log are easy to overlook, and the usual cause is a setting, not the policy."""
        env_steps = self.storage.num_samples * self.world_size
        share = unstable_resets / env_steps
        if self._warned_unstable or share <= self.unstable_warning_share or not self.is_main_process:
            return
        self._warned_unstable = True
        log.warning(
            "%.1f%% of the env steps of iteration %d (%d of %d) ended in a simulation blow-up that reset the env "
            "(threshold: algo.unstable_warning_share = %.1f%%). The physics is unstable: use a smaller timestep "
            "(raise sim.sim_freq) or more joint damping (raise sim.passive_damping_frac). Logged as "
            "sim/unstable_resets and sim/unstable_resets_total; this warning is not repeated.",
            100 * share, self.iteration, unstable_resets, env_steps, 100 * self.unstable_warning_share,
        )

    def _episode_summary(self, tracker: EpisodeTracker, with_mean_squares: bool = False) -> dict[str, torch.Tensor]:
        """The tracker's summary; with several workers, over the episodes of all of them."""
        summary = tracker.summary(with_mean_squares)
        return distributed.reduce_episode_summary(summary) if self.world_size > 1 else summary

    def _output(self, row: dict[str, float]) -> None:
        if not self.is_main_process:
            return
        self.logger.log(row, self.sample_count)
        self.save(self.checkpoint_path)
        if self.save_intermediate:
            path = intermediate_checkpoint_path(self.out_dir, f"{self.iteration:06d}")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            shutil.copyfile(self.checkpoint_path, path)

    def _write_metrics(self, metrics: dict[str, float]) -> None:
        if self.is_main_process:
            save_json(os.path.join(self.out_dir, METRICS_NAME), metrics)

    def _checkpointed(self) -> dict[str, Any]:
        """Objects with state_dict/load_state_dict saved in checkpoints; subclasses add theirs (e.g. a
        discriminator and its optimiser)."""
        return {
            "model": self.model,
            "obs_normalizer": self.obs_normalizer,
            **{f"optimizer/{phase.name}": phase.optimizer for phase in self.phases},
        }


def _action_mapping(env: BaseEnv, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Offset and scale mapping policy actions in [-1, 1] onto the env's bounds, and the indices of the bounded
    dims (the others pass through unscaled and unpenalised)."""
    low, high = (b.to(device=device, dtype=torch.float32) for b in env.action_bounds)
    if low.shape != (env.action_dim,) or high.shape != (env.action_dim,):
        raise ValueError(f"env.action_bounds must be two ({env.action_dim},) tensors, got {low.shape}, {high.shape}")
    bounded = torch.isfinite(low) & torch.isfinite(high)
    if bool((bounded & (high <= low)).any()):
        raise ValueError(f"env.action_bounds need low < high, got low {low.tolist()}, high {high.tolist()}")
    offset = torch.where(bounded, 0.5 * (high + low), torch.zeros_like(low))
    scale = torch.where(bounded, 0.5 * (high - low), torch.ones_like(low))
    return offset, scale, bounded.nonzero().flatten()


def _prefixed(prefix: str, d: Mapping[str, Any]) -> dict[str, Any]:
    return {prefix + k: v for k, v in d.items()}


def _to_floats(d: Mapping[str, torch.Tensor]) -> dict[str, float]:
    if not d:
        return {}
    values = torch.stack([v.detach().reshape(()).to(torch.float64) for v in d.values()]).cpu().tolist()
    return dict(zip(d.keys(), values))
