#!/usr/bin/env bash
# After bash ../shared/tools/gpu/prepare.sh: move the wheels of .gpu/a and .gpu/b into a third part, .gpu/c, so that
# each part fits beside the working tree in one device call (64 MiB with the tree; the tree is ~22 MB since the
# model zoo, and a and b were ~55 MB each). Then three calls in quick succession:
#   1) carry .gpu/a:                               bash .gpu/a/stage.sh
#   2) carry .gpu/c, data/motions/humanoid, .gl:   bash .gpu/c/stage.sh   (.gl: EGL for videos, optional)
#   3) carry .gpu/b:                               bash .gpu/b/stage.sh && export PYTHONPATH=/tmp/site:$PWD && ...
# (b's stage.sh installs every wheel copied to ~/gpu, so c must come before it.)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
mkdir -p .gpu/c
mv .gpu/a/*.whl .gpu/b/*.whl .gpu/c/ 2>/dev/null || true
echo 'mkdir -p $HOME/gpu && cp .gpu/c/* $HOME/gpu/ && echo "staged the wheels"' > .gpu/c/stage.sh
du -sh .gpu/a .gpu/b .gpu/c
