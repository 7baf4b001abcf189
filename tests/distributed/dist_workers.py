"""Worker functions of the distributed tests, in a plain module so that spawned processes can import them."""
import contextlib
import hashlib
import math
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from hydra.utils import instantiate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agents"))  # the pendulum helpers of tests/agents
from pendulum_agents import SWING_UP, RecordingLogger, compose_run_config  # noqa: E402

from mimickit.agents.storage import Batch  # noqa: E402
from mimickit.envs.pendulum_env import PendulumEnv  # noqa: E402
from mimickit.models.normalizer import RunningNormalizer  # noqa: E402
from mimickit.utils import distributed  # noqa: E402
from mimickit.utils.seeding import seed_everything, worker_seed  # noqa: E402

# PPO with small nets and Adam: the YAML defaults are MimicKit's humanoid settings
PENDULUM_PPO = [
    "algo=ppo",
    "algo.model.actor_hidden_dims=[64,64]",
    "algo.model.critic_hidden_dims=[64,64]",
    "algo.model.init_std=0.5",
    "algo.update.actor.optimizer._target_=torch.optim.Adam",
    "algo.update.actor.optimizer.lr=1e-3",
    "algo.update.critic.optimizer._target_=torch.optim.Adam",
    "algo.update.critic.optimizer.lr=3e-3",
    "algo.update.actor.batch_size=8",
    "algo.update.critic.batch_size=8",
    "algo.update.critic.epochs=5",
]


def pendulum_agent(out_dir, num_envs, seed, overrides=(), env_kwargs=SWING_UP, device="cpu"):
    """A PPO agent on the pendulum (default: the swing-up task), built like run.py builds agents."""
    cfg = compose_run_config([*PENDULUM_PPO, *overrides])
    seed_everything(seed)
    env = PendulumEnv(num_envs=num_envs, device=device, **env_kwargs)
    return instantiate(cfg.algo, env=env, logger=RecordingLogger(), out_dir=str(out_dir), device=device)


def state_checksum(agent) -> str:
    """sha256 of every parameter, buffer and normaliser statistic of the agent."""
    digest = hashlib.sha256()
    for module in (agent.model, agent.obs_normalizer):
        for key, tensor in module.state_dict().items():
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _gather(result):
    """Every rank's `result`, in rank order (a list of one without a process group)."""
    if not distributed.is_active():
        return [result]
    gathered = [None] * distributed.get_world_size()
    dist.all_gather_object(gathered, result)
    return gathered


def _group(worker):
    return distributed.process_group(worker) if worker is not None else contextlib.nullcontext()


def train_pendulum(worker, out_root, num_envs, max_iters, overrides=(), seed=0, test_episodes=32,
                   env_kwargs=SWING_UP):
    """PPO on the pendulum with `num_envs` envs and `test_episodes` in total, split over the workers (`worker`
    None: one process, on the CPU), each writing into out_root/rank<r>; returns every rank's checksum, records,
    metrics and files."""
    torch.set_num_threads(1)
    with _group(worker):
        rank, world_size = distributed.get_rank(), distributed.get_world_size()
        out_dir = Path(out_root) / f"rank{rank}"
        overrides = [*overrides, f"algo.test_episodes={math.ceil(test_episodes / world_size)}"]
        agent = pendulum_agent(out_dir, num_envs // world_size, worker_seed(seed, rank), overrides, env_kwargs,
                               device=worker.device if worker is not None else "cpu")
        metrics = agent.train(max_iters=max_iters)
        files = sorted(os.listdir(out_dir)) if out_dir.is_dir() else []
        return _gather(dict(checksum=state_checksum(agent), records=agent.logger.records,
                            rows=agent.logger.rows, metrics=metrics, files=files, sample_count=agent.sample_count))


def fixed_batch(num_samples, obs_dim=3, action_dim=1):
    """A reproducible batch of `num_samples` transitions (the same in every process)."""
    gen = torch.Generator().manual_seed(7)
    randn = lambda *shape: torch.randn(*shape, generator=gen)  # noqa: E731
    return Batch(obs=randn(num_samples, obs_dim), action=randn(num_samples, action_dim).clamp(-1, 1),
                 log_prob=randn(num_samples) - 1.0, value=randn(num_samples), target_return=randn(num_samples),
                 advantage=randn(num_samples))


def shard(batch, rank, world_size):
    """The rank's contiguous share of the batch."""
    size = batch.obs.shape[0] // world_size
    share = slice(rank * size, (rank + 1) * size)
    return Batch(**{k: v[share] for k, v in vars(batch).items() if k != "extras"},
                 extras={k: v[share] for k, v in batch.extras.items()})


def one_update_gradients(worker, num_samples):
    """Actor and critic gradients that `optimizer_step` applies for a fixed batch of `num_samples`, each worker
    computing its loss on its share; the models start from rank 0's (seed 0) parameters."""
    torch.set_num_threads(1)
    with _group(worker):
        return _gather(_one_update_gradients(num_samples))


def _one_update_gradients(num_samples):
    rank, world_size = distributed.get_rank(), distributed.get_world_size()
    agent = pendulum_agent(".", 4, worker_seed(0, rank))
    if world_size > 1:
        distributed.broadcast_modules([agent.model, agent.obs_normalizer])
    batch = shard(fixed_batch(num_samples), rank, world_size)
    agent.optimizer_step(agent.phase("actor").optimizer, agent.compute_actor_loss(batch)["loss"])
    agent.optimizer_step(agent.phase("critic").optimizer, agent.compute_critic_loss(batch)["loss"])
    return {name: p.grad.clone() for name, p in agent.model.named_parameters() if p.grad is not None}


def normalizer_samples(rank):
    """Observations of worker `rank`: different counts and distributions per worker."""
    gen = torch.Generator().manual_seed(100 + rank)
    return torch.randn(40 + 20 * rank, 3, generator=gen) * (1.0 + rank) + rank


def collective_checks(worker, num_samples):
    """Each helper of mimickit.utils.distributed on this worker: returns every rank's results."""
    torch.set_num_threads(1)
    with distributed.process_group(worker):
        rank = distributed.get_rank()
        results = {"grads": _one_update_gradients(num_samples)}

        norm = RunningNormalizer(3)
        norm.record(normalizer_samples(rank))
        norm.update()
        results["normalizer"] = (norm.count.clone(), norm.mean.clone(), norm.var.clone())

        # rank 0 finished 2 episodes of return 10 and length 4; rank 1 none (its means are nan)
        summary = {"return": torch.tensor(10.0 if rank == 0 else math.nan),
                   "episode_length": torch.tensor(4.0 if rank == 0 else math.nan),
                   "episodes": torch.tensor(2.0 if rank == 0 else 0.0)}
        results["episodes"] = distributed.reduce_episode_summary(summary)
        nobody = {"return": torch.tensor(math.nan), "episodes": torch.tensor(0.0)}
        results["no_episodes"] = distributed.reduce_episode_summary(nobody)
        results["mean"] = distributed.all_reduce_mean({"loss": torch.tensor(float(rank)), "kl": torch.tensor(2.0)})

        module = torch.nn.Linear(3, 2)
        torch.nn.init.constant_(module.weight, float(rank))
        distributed.broadcast_modules([module, "not a module"])
        results["broadcast"] = module.weight.detach().clone()

        draws = []
        for _ in range(2):  # every worker restores one RNG state, as from a checkpoint, then splits it
            torch.manual_seed(123)
            distributed.split_rng_streams()
            draws.append(torch.rand(3))
        results["rng_draws"] = draws
        return _gather(results)
