"""The composition root: compose the Hydra config, build engine -> motion library -> env -> agent, run the mode.

    python -m mimickit.run experiment=deepmimic_humanoid_ppo num_envs=64
    python -m mimickit.run experiment=deepmimic_humanoid_ppo mode=test model_file=outputs/.../model.pt
    python -m mimickit.run mode=eval model_file=outputs/.../model.pt motion=deepmimic_all   # eval.md per clip
    python -m mimickit.run env=view_motion motion=spinkick video=true
    python -m mimickit.run experiment=deepmimic_humanoid_ppo num_envs=64 devices=[cpu,cpu]   # 2 workers x 32 envs
"""
from __future__ import annotations

import logging
import os
import sys

import hydra
import torch
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from mimickit.config import Mode, register_configs, validate_recorder, validate_run, validate_target
from mimickit.envs.char_env import CharEnv
from mimickit.loggers.base import CompositeLogger
from mimickit.utils import distributed
from mimickit.resume import CONFIG_NAME, checkpoint_config, resolve_resume, with_checkpoint_keys
from mimickit.utils.checkpoint import atomic_write
from mimickit.utils.paths import CONF_DIR
from mimickit.utils.preemption import PreemptionGuard, finished_training_metrics
from mimickit.utils.seeding import seed_everything

log = logging.getLogger(__name__)
register_configs()

BUILT_GROUPS = ("sim", "motion", "env", "algo", "logger")
SUMMARY_KEYS = ("return", "train/return", "train/episode_length", "test/episode_length", "samples")


def watches_a_policy(cfg: DictConfig) -> bool:
    """mode=play with model_file=...: play a trained policy (without it, mode=play plays clips)."""
    return cfg.mode == Mode.play and cfg.model_file is not None


def validate(cfg: DictConfig) -> None:
    """Check the run-level keys, and every `_target_` group against its constructor, before building anything."""
    validate_run(cfg)
    if cfg.video or cfg.visualize or cfg.mode == Mode.play:
        validate_recorder(cfg)
    if cfg.mode in (Mode.test, Mode.eval) and cfg.model_file is None:
        raise ValueError(f"mode={cfg.mode.value} needs model_file=<path to a checkpoint>")
    if cfg.model_file is not None and cfg.mode != Mode.train and not os.path.isfile(cfg.model_file):
        raise FileNotFoundError(f"model_file not found: {cfg.model_file!r}")
    builds_agent = cfg.mode in (Mode.train, Mode.test, Mode.eval) or watches_a_policy(cfg)
    groups = (BUILT_GROUPS if builds_agent else ("sim", "motion", "env")) + ("randomization",)
    if cfg.mode == Mode.eval:
        validate_eval(cfg)
    for group in groups + (("eval",) if cfg.mode == Mode.eval else ()):
        validate_target(cfg[group], group)


def validate_eval(cfg: DictConfig) -> None:
    """mode=eval measures motion tracking, in one process."""
    from mimickit.envs.deepmimic_env import DeepMimicEnv

    if not issubclass(get_class(cfg.env._target_), DeepMimicEnv):
        raise ValueError(f"mode=eval evaluates motion tracking (env=deepmimic or env=add), not {cfg.env._target_}")
    if distributed.wants_workers(cfg.devices):
        raise ValueError("mode=eval runs in one process: pass device=..., not several devices")


def configure_torch(cfg: DictConfig) -> None:
    torch.set_num_threads(cfg.torch_threads)
    torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
    torch.backends.cudnn.allow_tf32 = cfg.tf32


def build_env(cfg: DictConfig):
    engine = instantiate(cfg.sim)
    motion_lib = instantiate(cfg.motion, device=engine.device)
    env = instantiate(cfg.env, engine=engine, motion_lib=motion_lib)
    randomizer = instantiate(cfg.randomization, engine=engine)  # before any step: see Engine.set_physics_where
    if randomizer.enabled:
        if not isinstance(env, CharEnv):
            raise ValueError(f"randomization: {type(env).__name__} is not a simulated character env; use "
                             "randomization=none")
        env.use_randomizer(randomizer)
        log.info("domain randomisation: %s", randomizer.describe())
    return env


def run(cfg: DictConfig, out_dir: str) -> dict:
    """Build every object from `cfg` and run `cfg.mode`; returns the run's final metrics."""
    if cfg.mode == Mode.train:
        finished = finished_training_metrics(os.path.join(out_dir, "metrics.json"), cfg.max_iters)
        if finished is not None:  # a requeued job that had already finished
            log.info("training already finished in %s (iteration %d); nothing to do", out_dir, finished["iteration"])
            return finished
    validate(cfg)
    configure_torch(cfg)
    seed_everything(cfg.seed)
    env = build_env(cfg)
    if cfg.mode == Mode.play and not watches_a_policy(cfg):
        from mimickit.render.playback import play_motion  # rendering stays out of training processes

        if not hasattr(env, "shown_envs"):
            raise ValueError("mode=play plays clips with env=view_motion; pass model_file=<checkpoint> to play a "
                             "trained policy in this env")
        recorder = OmegaConf.to_container(cfg.recorder, resolve=True)
        return play_motion(env, out_dir, cfg.visualize, cfg.video, cfg.video_steps, recorder)

    logger = instantiate(cfg.logger, out_dir=out_dir) if distributed.get_rank() == 0 else CompositeLogger([])
    agent = instantiate(cfg.algo, env=env, logger=logger, out_dir=out_dir, device=cfg.device)
    try:
        if cfg.mode == Mode.train:
            return train(agent, cfg)
        agent.load(cfg.model_file)
        if cfg.mode == Mode.eval:
            return instantiate(cfg.eval).evaluate(agent, env, out_dir, model_file=cfg.model_file)
        metrics = {}
        if cfg.mode == Mode.test:
            metrics = agent.test(num_episodes=cfg.test_episodes)
            errors = metrics["standard_error"]
            log.info("test: %s", " ".join(f"{k}={v:.4g}" + (f"+-{errors[k]:.2g}" if k in errors else "")
                                          for k, v in metrics.items() if k != "standard_error"))
        if cfg.video or cfg.visualize or cfg.mode == Mode.play:
            from mimickit.render.playback import watch_policy

            recorder = OmegaConf.to_container(cfg.recorder, resolve=True)
            metrics.update(watch_policy(agent, out_dir, cfg.visualize, cfg.video, cfg.video_steps, recorder))
        return metrics
    finally:
        logger.close()


def train(agent, cfg: DictConfig) -> dict:
    """Train (from the run directory's checkpoint with resume=true, see mimickit.resume), and let a preemption
    signal wait for a checkpoint (see mimickit.utils.preemption)."""
    with PreemptionGuard():
        metrics = agent.train(max_iters=cfg.max_iters, resume=cfg.resume)
    shown = {k: v for k, v in metrics.items() if k in SUMMARY_KEYS or k.endswith("tracking_error")}
    log.info("trained %d iterations into %s: %s", metrics.get("iteration", 0), agent.out_dir,
             " ".join(f"{k}={v:.4g}" for k, v in shown.items()))
    return metrics


def run_workers(cfg: DictConfig, out_dir: str) -> dict:
    """`run` on several workers: one process per entry of `devices`, or this process's share of a torchrun or
    multi-task SLURM launch (see mimickit.utils.distributed); returns rank 0's metrics."""
    return distributed.launch(_run_worker, cfg.devices, cfg.device, cfg, out_dir)


def _run_worker(worker: distributed.Worker, cfg: DictConfig, out_dir: str) -> dict:
    cfg = distributed.worker_config(cfg, worker)
    log.info("worker %d of %d on %s (%s): %d envs, seed %d", worker.rank, worker.world_size, worker.device,
             worker.backend, cfg.num_envs, cfg.seed)
    with distributed.process_group(worker):
        return run(cfg, out_dir)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    # Under `python -m mimickit.run` this file is `__main__`, and a sweep launcher (submitit) pickles `main` by
    # value together with every global it reaches (torch.backends.cudnn cannot be pickled). Going through the
    # imported module keeps that to these two lines: the job imports mimickit.run and calls `run_job` there.
    from mimickit import run as imported

    return imported.run_job(cfg)


def run_job(cfg: DictConfig) -> float | None:
    out_dir = HydraConfig.get().runtime.output_dir
    try:
        overrides = HydraConfig.get().overrides.task
        if cfg.mode == Mode.train:
            cfg = resolve_resume(cfg, out_dir, overrides, compose(config_name="config"))
        elif cfg.model_file is not None:
            cfg = checkpoint_config(cfg, overrides, compose(config_name="config"))
        if distributed.launcher_rank() == 0:
            text = OmegaConf.to_yaml(cfg, resolve=True)
            atomic_write(os.path.join(out_dir, CONFIG_NAME), lambda f: f.write(text.encode()))
        metrics = run_workers(cfg, out_dir) if distributed.wants_workers(cfg.devices) else run(cfg, out_dir)
    except Exception:
        _log_to_files_only("run failed")
        raise
    return metrics.get("return") if metrics else None


def _log_to_files_only(message: str) -> None:
    """Record the current exception's traceback in the job's log file: Hydra's sweep launchers keep the exception
    but write it to none of the job's own files. The console gets it once, from Hydra."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, None, sys.exc_info())
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def cli() -> None:
    """`python -m mimickit.run` and the `mimickit` command: Hydra's `main` on the command line, where a tested
    checkpoint's own keys are let through (`with_checkpoint_keys`)."""
    sys.argv[1:] = with_checkpoint_keys(sys.argv[1:])
    main()


if __name__ == "__main__":
    cli()
