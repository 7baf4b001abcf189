"""DeepMimic learns exactly as it did before the agent gained its extension points (phases, storage extras, reward
hook, models from config): the same seed gives the same first iterations, to float precision.

The expected values were recorded on the commit before that refactor (6a3fdd7's loop), with this test's settings.
"""
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from mimickit.config import register_configs
from mimickit.run import build_env
from mimickit.utils.seeding import seed_everything
from pendulum_agents import CONF, RecordingLogger

WALK = Path(__file__).resolve().parents[2] / "data" / "motions" / "humanoid" / "humanoid_walk.pkl"
OVERRIDES = ["experiment=deepmimic_humanoid_ppo", "motion=walk", "num_envs=8", "sim.nthread=1",
             "algo.steps_per_iter=16", "algo.iters_per_output=2", "test_episodes=2",
             "algo.model.actor_hidden_dims=[64,32]", "algo.model.critic_hidden_dims=[64,32]",
             "env.pose_termination_metric=mean", "env.contact_height=0.15",  # the rule the rows were recorded with
             "algo.max_kl=null"]  # and the update (the preset's KL guard came later)
# per iteration: actor/loss, critic/loss, actor/clip_frac, advantage/std, critic/target_return_mean
EXPECTED_ROWS = [
    (-0.059034086763858795, 9.414151191711426, 0.22031250596046448, 1.6072885990142822, 2.83349347114563),
    (-0.08415495604276657, 1.8384498357772827, 0.34375, 0.8053247928619385, 1.4085719585418701),
    (-0.06247585266828537, 10.60564136505127, 0.17499999701976776, 1.6387264728546143, 3.1403450965881348),
]
EXPECTED_TEST = {"test/return": 12.157450914382935, "test/episode_length": 30.375,
                 "test/episode/tracking_error": 0.3715093322098255}
KEYS = ("actor/loss", "critic/loss", "actor/clip_frac", "advantage/std", "critic/target_return_mean")


@pytest.mark.skipif(not WALK.is_file(), reason="needs the converted clips (make data)")
def test_same_seed_gives_the_recorded_first_iterations(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="config", overrides=OVERRIDES)
    seed_everything(0)
    logger = RecordingLogger()
    agent = instantiate(cfg.algo, env=build_env(cfg), logger=logger, out_dir=str(tmp_path), device="cpu")
    agent.train(max_iters=3)
    torch.set_num_threads(threads)

    assert len(logger.rows) == len(EXPECTED_ROWS)
    for row, expected in zip(logger.rows, EXPECTED_ROWS):
        assert [row[k] for k in KEYS] == pytest.approx(expected, rel=1e-5), row["iteration"]
    assert {k: logger.records[-1][k] for k in EXPECTED_TEST} == pytest.approx(EXPECTED_TEST, rel=1e-5)
