"""Motion-data tools: converters from DeepMimic, poselib and GMR clips to MimicKit `.pkl`, each with a CLI."""
from mimickit.utils.paths import REPO_ROOT

DEFAULT_HUMANOID_MJCF = REPO_ROOT / "data" / "assets" / "humanoid" / "capsule_humanoid.xml"
