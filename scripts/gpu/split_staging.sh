#!/usr/bin/env bash
# After bash ../shared/tools/gpu/prepare.sh: move the wheels of .gpu/a and .gpu/b into .gpu/c, and re-split the
# warp archive (prepare.sh's two ~41 MB halves) into three ~28 MB parts in .gpu/a, .gpu/d and .gpu/b, so that each
# part fits beside the working tree in one device call (64 MiB with the tree; the tree is ~29 MB since the sixth
# session's gifs). Then four calls in quick succession:
#   1) carry .gpu/a:                               bash .gpu/a/stage.sh
#   2) carry .gpu/d:                               bash .gpu/d/stage.sh
#   3) carry .gpu/c, data/motions/humanoid, .gl:   bash .gpu/c/stage.sh   (.gl: EGL for videos, optional)
#   4) carry .gpu/b:                               bash .gpu/b/stage.sh && export PYTHONPATH=/tmp/site:$PWD && ...
# (b's stage.sh installs every wheel copied to ~/gpu, so a, d and c must come before it.)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
mkdir -p .gpu/c .gpu/d
mv .gpu/a/*.whl .gpu/b/*.whl .gpu/c/ 2>/dev/null || true
echo 'mkdir -p $HOME/gpu && cp .gpu/c/* $HOME/gpu/ && echo "staged the wheels"' > .gpu/c/stage.sh
if [ -e .gpu/a/warp.txz.part_aa ] && [ -e .gpu/b/warp.txz.part_ab ]; then
  cat .gpu/a/warp.txz.part_aa .gpu/b/warp.txz.part_ab > .gpu/warp.txz
  rm .gpu/a/warp.txz.part_aa .gpu/b/warp.txz.part_ab
  size=$(stat -c %s .gpu/warp.txz)
  split -b $(( (size + 2) / 3 )) .gpu/warp.txz .gpu/warp3.part_
  mv .gpu/warp3.part_aa .gpu/a/ && mv .gpu/warp3.part_ab .gpu/d/ && mv .gpu/warp3.part_ac .gpu/b/
  rm .gpu/warp.txz
fi
echo 'mkdir -p $HOME/gpu && cp .gpu/a/* $HOME/gpu/ && echo "staged part a"' > .gpu/a/stage.sh
echo 'mkdir -p $HOME/gpu && cp .gpu/d/* $HOME/gpu/ && echo "staged part d"' > .gpu/d/stage.sh
cat > .gpu/b/stage.sh <<'S'
set -e
cp .gpu/b/* $HOME/gpu/
for p in aa ab; do
  if [ ! -e $HOME/gpu/warp3.part_$p ]; then echo "warp3.part_$p is missing: the GPU machine was released; stage again" >&2; exit 3; fi
done
mkdir -p /tmp/site
cat $HOME/gpu/warp3.part_aa $HOME/gpu/warp3.part_ab $HOME/gpu/warp3.part_ac | xz -d | tar xf - -C /tmp/site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $HOME/gpu/*.whl
PYTHONPATH=/tmp/site python3 -c "import warp, mujoco, mujoco_warp; print('warp', warp.__version__, 'mujoco', mujoco.__version__)"
S
du -sh .gpu/a .gpu/d .gpu/b .gpu/c
