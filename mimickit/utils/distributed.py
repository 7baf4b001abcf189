"""Multi-process training: one worker per device, kept in lockstep through `torch.distributed`.

Workers come from one of two places:
- `devices=[cpu, cpu]` or `devices=[cuda:0, cuda:1]`: `launch` spawns one process per entry;
- a launcher that started the processes itself: torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) or
  SLURM with several tasks (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID; the rendezvous address comes from
  submitit's `TorchDistributedEnvironment` when MASTER_ADDR/PORT are unset).

Each worker steps `num_envs / world_size` envs with its own seed (`worker_config`). All workers start from rank
0's parameters (`broadcast_modules`) and stay identical: they apply the same averaged gradients
(`all_reduce_gradients`) and fold the same summed normaliser samples. Logged statistics are reduced over workers
and only rank 0 logs and checkpoints. NCCL on GPUs, gloo on CPUs. With one process nothing here is called.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from omegaconf import DictConfig

from mimickit.utils.seeding import seed_everything, worker_seed

T = TypeVar("T")


@dataclass(frozen=True)
class Worker:
    """One process of a multi-process run."""

    rank: int
    world_size: int
    local_rank: int  # index among the workers of this host: picks the device
    local_world_size: int  # workers on this host: they share its CPU cores
    device: str
    init_method: str = "env://"  # torch.distributed rendezvous; env:// reads MASTER_ADDR/MASTER_PORT

    @property
    def backend(self) -> str:
        return "nccl" if torch.device(self.device).type == "cuda" else "gloo"


# ---------------------------------------------------------------------------------------------- process state
def is_active() -> bool:
    """Whether this process is one of several workers (a process group of more than one is initialised)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


# ---------------------------------------------------------------------------------------------- starting workers
def launcher_world_size() -> int:
    """How many processes torchrun or an srun step started for this run (1 without such a launcher). A batch
    script is one process even under `--ntasks=2`: only srun's steps (submitit's tasks) set SLURM_STEP_NUM_TASKS."""
    env = os.environ
    if "WORLD_SIZE" in env:
        return int(env["WORLD_SIZE"])
    if "SLURM_PROCID" in env and "SLURM_STEP_NUM_TASKS" in env:
        return int(env["SLURM_STEP_NUM_TASKS"])
    return 1


def launcher_worker(devices: Sequence[str] | None, device: str) -> Worker | None:
    """This process's place in a torchrun or multi-task SLURM launch; None when no launcher started several."""
    env = os.environ
    world_size = launcher_world_size()
    if world_size <= 1:
        return None
    if "WORLD_SIZE" in env:
        rank, local_rank = int(env["RANK"]), int(env.get("LOCAL_RANK", "0"))
    else:
        if "MASTER_ADDR" not in env or "MASTER_PORT" not in env:
            if "SUBMITIT_EXECUTOR" not in env:
                raise RuntimeError("an srun step of several tasks needs MASTER_ADDR and MASTER_PORT, e.g. "
                                   "MASTER_ADDR=$(scontrol show hostnames $SLURM_JOB_NODELIST | head -n 1) "
                                   "MASTER_PORT=29500 (submitit's jobs find them themselves)")
            from submitit.helpers import TorchDistributedEnvironment

            # first host of the job, and a port seeded by the job id (the same after a requeue)
            TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        rank, local_rank = int(env["SLURM_PROCID"]), int(env.get("SLURM_LOCALID", "0"))
    local_world_size = int(env.get("LOCAL_WORLD_SIZE", world_size))
    return Worker(rank, world_size, local_rank, local_world_size, select_device(devices, device, local_rank))


def select_device(devices: Sequence[str] | None, device: str, local_rank: int) -> str:
    """`devices[local_rank]` when `devices` lists this host's devices; else, for a CUDA `device`, GPU
    `local_rank` (one GPU per worker), or GPU 0 where the launcher shows each worker only its own GPU; else
    `device` itself (CPU)."""
    if devices:
        if local_rank >= len(devices):
            raise ValueError(f"worker of local rank {local_rank} has no entry in devices={list(devices)}")
        return str(devices[local_rank])
    if torch.device(device).type == "cuda":
        return "cuda:0" if torch.cuda.device_count() == 1 else f"cuda:{local_rank}"
    return device


def wants_workers(devices: Sequence[str] | None) -> bool:
    """Whether the run has several workers: several `devices`, or a launcher started several processes."""
    return (devices is not None and len(devices) > 1) or launcher_world_size() > 1


def launcher_rank() -> int:
    """The rank a launcher gave this process before any process group exists (0 when there is none)."""
    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")))


def launch(fn: Callable[..., T], devices: Sequence[str] | None, device: str, *args: Any) -> T | None:
    """Run `fn(worker, *args)` on every worker and return rank 0's result.

    Under torchrun or SLURM this process is one worker: it runs `fn` itself (other ranks return None).
    Otherwise one process is spawned per entry of `devices`; `fn` and `args` must pickle, and `fn` must be
    importable (a module-level function).
    """
    worker = launcher_worker(devices, device)
    if worker is not None:
        result = fn(worker, *args)
        return result if worker.rank == 0 else None
    if devices is None or len(devices) < 2:
        raise ValueError(f"launch needs two or more devices or a torchrun/SLURM launch, got devices={devices}")
    init_method = f"tcp://127.0.0.1:{_free_port()}"
    with tempfile.TemporaryDirectory(prefix="mimickit_workers_") as tmp:
        result_path = os.path.join(tmp, "rank0_result.pt")
        mp.spawn(_spawned_worker, args=(fn, list(devices), init_method, result_path, args), nprocs=len(devices))
        return torch.load(result_path, weights_only=False)


def _spawned_worker(rank: int, fn: Callable[..., T], devices: list[str], init_method: str, result_path: str,
                    args: tuple) -> None:
    logging.basicConfig(level=logging.INFO, format=f"[rank {rank}] %(asctime)s %(name)s %(levelname)s %(message)s")
    worker = Worker(rank, len(devices), rank, len(devices), str(devices[rank]), init_method)
    result = fn(worker, *args)
    if rank == 0:  # a file, not a queue: tensors sent through a queue die with the process that sent them
        torch.save(result, result_path)
    # Leave without interpreter finalisation: there gloo's threads can still abort the process ("terminate called
    # without an active exception", pytorch/pytorch#179291) after the work is done and the group destroyed, and
    # mp.spawn would report the finished worker as failed. `fn` has closed its loggers and files.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def process_group(worker: Worker) -> Iterator[None]:
    """Join the workers' process group (NCCL on a GPU, gloo on CPU) for the duration of the block."""
    if torch.device(worker.device).type == "cuda":
        torch.cuda.set_device(worker.device)
    dist.init_process_group(
        worker.backend, init_method=worker.init_method, rank=worker.rank, world_size=worker.world_size
    )
    try:
        yield
        dist.barrier()  # leave together: gloo aborts a worker whose peer tears the group down under it
    finally:
        dist.destroy_process_group()


def worker_config(cfg: DictConfig, worker: Worker) -> DictConfig:
    """The run config of one worker: its share of the envs (`num_envs` is the total) and of the test episodes,
    its own seed and device, and its share of the host's cores for a MuJoCo engine that would take all."""
    if cfg.num_envs % worker.world_size != 0:
        raise ValueError(f"num_envs={cfg.num_envs} is the total over all workers: it must be a multiple of "
                         f"the {worker.world_size} workers")
    if cfg.mode == "play":
        raise ValueError("mode=play runs in one process: leave devices unset")
    cfg = copy.deepcopy(cfg)
    cfg.num_envs = cfg.num_envs // worker.world_size
    cfg.test_episodes = math.ceil(cfg.test_episodes / worker.world_size)
    cfg.seed = worker_seed(cfg.seed, worker.rank)
    cfg.device = worker.device
    if cfg.sim.get("nthread") == 0:
        cfg.sim.nthread = max(1, (os.cpu_count() or 1) // worker.local_world_size)
    return cfg


# ---------------------------------------------------------------------------------------------- collectives
def all_reduce_(tensors: Sequence[torch.Tensor], average: bool = False) -> None:
    """Sum (or average) `tensors` in place over all workers with one collective on one flat buffer."""
    if not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    if average:
        flat /= dist.get_world_size()
    for tensor, chunk in zip(tensors, flat.split([t.numel() for t in tensors])):
        tensor.copy_(chunk.view_as(tensor))


def all_reduce_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Average the gradients over workers: each worker's loss is a mean over an equal share of the batch, so
    the average is the gradient of the whole batch's mean loss."""
    all_reduce_([p.grad for p in params if p.grad is not None], average=True)


def all_reduce_mean(stats: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Scalar statistics averaged over workers (one collective)."""
    if not stats:
        return {}
    values = torch.stack([v.detach().reshape(()).to(torch.float64) for v in stats.values()])
    all_reduce_([values], average=True)
    return dict(zip(stats.keys(), values.unbind()))


def reduce_episode_summary(summary: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An `EpisodeTracker.summary()` over every worker's episodes: means weighted by each worker's episode count
    ("episodes"), which becomes the total; nan where no worker finished an episode."""
    count = summary["episodes"].to(torch.float64)
    keys = [k for k in summary if k != "episodes"]
    sums = [torch.where(count > 0, summary[k].to(torch.float64) * count, 0.0) for k in keys]
    totals = torch.stack([*sums, count])
    all_reduce_([totals])
    total_count = totals[-1]
    means = torch.where(total_count > 0, totals[:-1] / torch.clamp_min(total_count, 1.0), math.nan)
    return {**dict(zip(keys, means.unbind())), "episodes": total_count}


def broadcast_modules(modules: Iterable[Any]) -> None:
    """Copy rank 0's parameters and buffers into every worker's modules (other objects are skipped)."""
    for module in modules:
        if isinstance(module, torch.nn.Module):
            for tensor in module.state_dict().values():
                dist.broadcast(tensor, src=0)


def split_rng_streams() -> None:
    """After all workers restored one RNG state (rank 0's, from a checkpoint), give each its own stream again;
    reproducible, since every worker draws the same base seed."""
    base = int(torch.randint(0, 2**31 - 1, ()))
    seed_everything(worker_seed(base, get_rank()))
