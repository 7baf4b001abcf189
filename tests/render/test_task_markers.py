"""Task markers in videos (and the viewer, which draws them the same way): a task env's targets add pixels in their
colour that the character alone does not have; an unknown marker shape is refused."""
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from mimickit.config import register_configs
from mimickit.envs.task_common import Marker
from mimickit.render.video import VideoRecorder
from mimickit.run import build_env, validate
from mimickit.utils.paths import CONF_DIR
from render_settings import recorder_settings


def task_env(name):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"env={name}", "motion=procedural_walk", "num_envs=2",
                                                       "sim.nthread=1"])
    validate(cfg)
    env = build_env(cfg)
    env.reset()
    return env


def reddish(image):
    r, g, b = (image[..., i].astype(int) for i in range(3))
    return (r > 150) & (g < 90) & (b < 90)


@pytest.mark.parametrize("name", ["task_location", "task_steering"])
def test_task_markers_are_drawn(name):
    env = task_env(name)
    if name == "task_location":  # in view, beside the character
        env.tar_pos[:, :2] = env.engine.root_pos()[:, :2] + torch.tensor([1.0, 1.0])
    else:  # the arrows across the view (the default camera looks along azimuth 120 degrees), not towards it
        env.tar_dir[:] = torch.tensor([0.866, 0.5])
        env.face_dir[:] = torch.tensor([0.866, 0.5])
    size = recorder_settings(width=160, height=120)
    with VideoRecorder(env.engine, [0, 1], **size) as alone, \
            VideoRecorder(env.engine, [0, 1], markers=env.task_markers, **size) as marked:
        plain, with_markers = alone.render(), marked.render()
    assert reddish(with_markers).mean() > 0.002 > reddish(plain).mean()
    assert (np.abs(with_markers.astype(int) - plain.astype(int)).max(-1) > 30).mean() > 0.003


def test_unknown_marker_shape_is_refused():
    env = task_env("task_location")
    cube = Marker("cube", env.tar_pos, None, 0.1, (1.0, 0.0, 0.0, 1.0))
    known = r"unknown marker shape 'cube'; known: \['arrow', 'line', 'sphere'\]"
    with VideoRecorder(env.engine, markers=lambda: [cube], **recorder_settings(width=64, height=48)) as recorder, \
            pytest.raises(ValueError, match=known):
        recorder.render()
