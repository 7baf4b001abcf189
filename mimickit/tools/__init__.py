"""Motion-data tools: converters from DeepMimic, poselib and GMR clips to MimicKit `.pkl`, each with a CLI."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HUMANOID_MJCF = REPO_ROOT / "data" / "assets" / "humanoid" / "humanoid.xml"
