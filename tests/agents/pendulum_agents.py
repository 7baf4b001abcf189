"""Agents on the pendulum, built like run.py builds them: compose conf/, then `instantiate` algo and logger."""
import math
from collections.abc import Mapping
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from mimickit.config import register_configs
from mimickit.envs.pendulum_env import PendulumEnv
from mimickit.loggers.base import Logger
from mimickit.utils.seeding import seed_everything

CONF = str(Path(__file__).resolve().parents[2] / "conf")

SWING_UP = dict(init_angle_range=math.pi, init_vel_range=1.0, fail_angle=None, episode_length=5.0)

# small nets and Adam: the YAML defaults are MimicKit's humanoid settings
PENDULUM_OVERRIDES = [
    "algo.model.actor_hidden_dims=[64,64]",
    "algo.model.critic_hidden_dims=[64,64]",
    "algo.model.init_std=0.5",
    "~algo.update.actor.optimizer",
    "+algo.update.actor.optimizer={_target_:torch.optim.Adam,_partial_:true,lr:1e-3}",
    "~algo.update.critic.optimizer",
    "+algo.update.critic.optimizer={_target_:torch.optim.Adam,_partial_:true,lr:3e-3}",
    "algo.update.actor.batch_size=8",
    "algo.update.critic.batch_size=8",
    "algo.update.critic.epochs=5",
]


# wall-clock measurements differ between any two runs
TIMING_KEYS = ("wall_time_s", "samples_per_s", "time/")


def without_timings(row: Mapping[str, float]) -> dict[str, float]:
    """A logged row without its wall-clock measurements: what two runs of the same computation share."""
    return {k: v for k, v in row.items() if not k.startswith(TIMING_KEYS)}


class RecordingLogger(Logger):
    """Keeps every per-iteration row (progress) and every logged record."""

    def __init__(self):
        self.rows: list[dict] = []
        self.records: list[dict] = []

    def log(self, scalars: Mapping[str, float], step: int) -> None:
        self.records.append(dict(scalars))

    def progress(self, scalars: Mapping[str, float], step: int) -> None:
        self.rows.append(dict(scalars))


def compose_run_config(overrides):
    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        # the motion group is the DeepMimic env's; the pendulum needs none
        return compose(config_name="config", overrides=["~motion", *overrides])


def make_pendulum_agent(algo, out_dir, overrides=(), num_envs=32, logger=None, seed=0, env_kwargs=SWING_UP,
                        device="cpu"):
    """Seed, build the env, then the agent from conf/algo/<algo>.yaml with the pendulum overrides."""
    cfg = compose_run_config([f"algo={algo}", *PENDULUM_OVERRIDES, *overrides])
    seed_everything(seed)
    env = PendulumEnv(num_envs=num_envs, device=device, **env_kwargs)
    logger = logger if logger is not None else RecordingLogger()
    return instantiate(cfg.algo, env=env, logger=logger, out_dir=str(out_dir), device=device)
