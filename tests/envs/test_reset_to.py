"""DeepMimicEnv.reset_to: episodes started at given clips and times (an evaluation's starts), and tracking_frames."""
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from mimickit.config import register_configs
from mimickit.run import build_env, validate

ROOT = Path(__file__).resolve().parents[2]
TWO_CLIPS = ["data/motions/humanoid/humanoid_walk.pkl", "data/motions/humanoid/humanoid_jog.pkl"]


@pytest.fixture
def two_clip_dataset(tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text("motions:\n" + "".join(f"  - {{file: {ROOT / f}, weight: 1.0}}\n" for f in TWO_CLIPS))
    return path


def make_env(dataset, *overrides):
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "sim.nthread=1", f"motion.motion_file={dataset}", "num_envs=4", *overrides])
    validate(cfg)
    torch.manual_seed(0)
    return build_env(cfg)


@pytest.mark.parametrize("env_name", ["deepmimic", "add"])
def test_reset_to_starts_each_env_on_its_clip_at_its_time(two_clip_dataset, env_name):
    env = make_env(two_clip_dataset, f"env={env_name}")
    env.reset()
    ids, times = torch.tensor([1, 0, 1, 0]), torch.tensor([0.0, 0.5, 0.3, 1.0])
    obs = env.reset_to(ids, times)
    assert obs.shape == (4, env.obs_dim) and torch.isfinite(obs).all()
    assert torch.equal(env.motion_ids, ids) and torch.equal(env.motion_time0, times)
    assert torch.equal(env.episode_step, torch.zeros(4, dtype=torch.long))
    ref = env.motion_lib.calc_motion_frame(ids, times)
    torch.testing.assert_close(env.engine.body_pos(), ref.body_pos, atol=2e-3, rtol=0)
    sim, tracked = env.tracking_frames()  # the pair an evaluation measures: here the same pose
    torch.testing.assert_close(tracked.body_pos, ref.body_pos)
    torch.testing.assert_close(sim.body_pos, ref.body_pos, atol=2e-3, rtol=0)
    if env_name == "add":  # the discriminator history starts on the new reference too
        torch.testing.assert_close(env.disc_obs(), env.disc_obs_demo(), atol=1e-4, rtol=0)


def test_reset_to_with_a_mask_keeps_the_other_episodes(two_clip_dataset):
    env = make_env(two_clip_dataset)
    env.reset_to(torch.tensor([0, 0, 0, 0]), torch.tensor([0.1, 0.2, 0.3, 0.4]))
    for _ in range(3):
        env.step(torch.zeros(4, env.action_dim))
    kept_pos = env.engine.body_pos().clone()
    mask = torch.tensor([True, False, True, False])
    env.reset_to(torch.tensor([1, 1, 1, 1]), torch.tensor([0.0, 0.0, 0.6, 0.0]), mask)
    assert env.motion_ids.tolist() == [1, 0, 1, 0]
    torch.testing.assert_close(env.motion_time0, torch.tensor([0.0, 0.2, 0.6, 0.4]))
    assert env.episode_step.tolist() == [0, 3, 0, 3]
    torch.testing.assert_close(env.engine.body_pos()[~mask], kept_pos[~mask])
    ref = env.motion_lib.calc_motion_frame(torch.tensor([1, 1]), torch.tensor([0.0, 0.6]))
    torch.testing.assert_close(env.engine.body_pos()[mask], ref.body_pos, atol=2e-3, rtol=0)


def test_later_resets_sample_again_and_wrong_shapes_are_refused(two_clip_dataset):
    env = make_env(two_clip_dataset)
    env.reset_to(torch.ones(4, dtype=torch.long), torch.full((4,), 0.25))
    env.reset()  # back to reference state initialisation: random times
    assert not torch.equal(env.motion_time0, torch.full((4,), 0.25))
    with pytest.raises(ValueError, match=r"\(4,\) motion_ids"):
        env.reset_to(torch.zeros(3, dtype=torch.long), torch.zeros(3))
