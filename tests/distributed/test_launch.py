"""Worker placement without processes: torchrun and SLURM environments, devices, and each worker's config."""
import os

import pytest
import torch
from omegaconf import OmegaConf

from mimickit.utils import distributed
from mimickit.utils.seeding import worker_seed

LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                 "SLURM_PROCID", "SLURM_NTASKS", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", "SLURM_JOB_ID",
                 "SLURM_JOB_NODELIST", "SLURM_JOB_NUM_NODES", "SLURM_NODEID", "SUBMITIT_EXECUTOR")


@pytest.fixture(autouse=True)
def _no_launcher():
    """No launcher variables during a test, and none left behind (submitit's export sets some)."""
    saved = os.environ.copy()
    for name in LAUNCHER_VARS:
        os.environ.pop(name, None)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_a_plain_process_is_no_worker():
    assert distributed.launcher_worker(None, "cpu") is None
    assert not distributed.wants_workers(None) and not distributed.wants_workers(["cuda:0"])
    assert distributed.wants_workers(["cpu", "cpu"])
    assert distributed.get_world_size() == 1 and distributed.get_rank() == 0 and not distributed.is_active()


def test_torchrun_environment(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert distributed.wants_workers(None) and distributed.launcher_rank() == 3
    worker = distributed.launcher_worker(None, "cuda")
    assert worker == distributed.Worker(3, 4, 1, 2, "cuda:1", "env://")
    assert worker.backend == "nccl"
    assert distributed.launcher_worker(["cuda:2", "cuda:3"], "cpu").device == "cuda:3"
    cpu = distributed.launcher_worker(None, "cpu")
    assert cpu.device == "cpu" and cpu.backend == "gloo"
    with pytest.raises(ValueError, match="local rank 1 has no entry"):
        distributed.launcher_worker(["cuda:0"], "cpu")


def test_a_worker_that_sees_only_its_own_gpu_uses_gpu_0(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # e.g. srun --gpus-per-task=1
    assert distributed.select_device(None, "cuda", local_rank=1) == "cuda:0"
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert distributed.select_device(None, "cuda:0", local_rank=3) == "cuda:3"


def _slurm_task(monkeypatch, procid, localid, ntasks=4):
    for name, value in {"SLURM_PROCID": procid, "SLURM_LOCALID": localid, "SLURM_NTASKS": ntasks,
                        "SLURM_STEP_NUM_TASKS": ntasks, "SLURM_JOB_ID": 4242, "SLURM_JOB_NODELIST": "node[3-4]",
                        "SLURM_JOB_NUM_NODES": 2, "SLURM_NODEID": 1}.items():
        monkeypatch.setenv(name, str(value))


def test_submitit_task_finds_its_rendezvous(monkeypatch):
    _slurm_task(monkeypatch, 3, 1)
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    worker = distributed.launcher_worker(None, "cuda")
    assert worker == distributed.Worker(3, 4, 1, 2, "cuda:1", "env://")
    # the first host, and a port seeded by the job id: every task (and a requeued job) agrees
    assert os.environ["MASTER_ADDR"] == "node3" and 20000 <= int(os.environ["MASTER_PORT"]) <= 60000
    assert os.environ["RANK"] == "3" and os.environ["WORLD_SIZE"] == "4"


def test_srun_without_submitit_needs_a_master_address(monkeypatch):
    _slurm_task(monkeypatch, 1, 1, ntasks=2)
    with pytest.raises(RuntimeError, match="MASTER_ADDR"):
        distributed.launcher_worker(None, "cpu")
    monkeypatch.setenv("MASTER_ADDR", "node3")
    monkeypatch.setenv("MASTER_PORT", "29500")
    assert distributed.launcher_worker(None, "cpu") == distributed.Worker(1, 2, 1, 2, "cpu", "env://")


def test_a_batch_script_with_several_tasks_is_one_process(monkeypatch):
    """sbatch --ntasks=2 runs its script once: SLURM_NTASKS=2 but no srun step."""
    _slurm_task(monkeypatch, 0, 0, ntasks=2)
    monkeypatch.delenv("SLURM_STEP_NUM_TASKS")
    assert distributed.launcher_worker(None, "cpu") is None and not distributed.wants_workers(None)


def _run_cfg(**overrides):
    cfg = {"mode": "train", "num_envs": 64, "seed": 5, "device": "cpu", "test_episodes": 33,
           "sim": {"nthread": 0, "num_envs": "${num_envs}", "device": "${device}"}}
    return OmegaConf.create({**cfg, **overrides})


def test_worker_config_splits_envs_and_test_episodes_and_offsets_the_seed():
    cfg = _run_cfg()
    worker = distributed.Worker(rank=1, world_size=2, local_rank=1, local_world_size=2, device="cuda:1")
    local = distributed.worker_config(cfg, worker)
    assert local.num_envs == 32 and local.sim.num_envs == 32 and local.test_episodes == 17
    assert local.seed == worker_seed(5, 1) != 5 and local.device == "cuda:1" and local.sim.device == "cuda:1"
    assert local.sim.nthread == max(1, os.cpu_count() // 2)
    assert cfg.num_envs == 64 and cfg.sim.nthread == 0  # the run's config is untouched
    rank0 = distributed.worker_config(cfg, distributed.Worker(0, 2, 0, 2, "cuda:0"))
    assert rank0.seed == 5
    assert distributed.worker_config(_run_cfg(sim={"nthread": 3}), worker).sim.nthread == 3


def test_worker_config_rejects_an_uneven_split_and_playback():
    worker = distributed.Worker(0, 3, 0, 3, "cpu")
    with pytest.raises(ValueError, match="num_envs=64 is the total"):
        distributed.worker_config(_run_cfg(), worker)
    with pytest.raises(ValueError, match="mode=play"):
        distributed.worker_config(_run_cfg(mode="play", num_envs=63), worker)


def test_launch_needs_several_devices():
    with pytest.raises(ValueError, match="two or more devices"):
        distributed.launch(print, ["cpu"], "cpu")
