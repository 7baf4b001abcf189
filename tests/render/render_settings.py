"""The run-level `recorder:` settings of conf/config.yaml, for tests that build a VideoRecorder directly."""
from pathlib import Path

from omegaconf import OmegaConf

CONFIG = Path(__file__).resolve().parents[2] / "conf" / "config.yaml"


def recorder_settings(**changes) -> dict:
    return {**OmegaConf.to_container(OmegaConf.load(CONFIG).recorder), **changes}
