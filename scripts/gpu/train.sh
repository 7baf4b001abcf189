#!/usr/bin/env bash
# GPU benchmarks and training runs on the device machine (after staging MuJoCo Warp, see run_checks.sh).
#
#   bash scripts/gpu/train.sh warm                        # build the engine once: MuJoCo Warp compiles its kernels
#     into ~/.cache/warp (on a fresh machine, 14 processes compiling them at once took over 200 s on 2026-11-29)
#   bash scripts/gpu/train.sh bench                       # sim-only and end-to-end training throughput -> $OUT
#   bash scripts/gpu/train.sh graph_update                # the CUDA-graphed update (algo.graph_update): its GPU
#     tests, then training throughput of DeepMimic, AMP and ADD without and with it -> $OUT/graph_update.log
#   bash scripts/gpu/train.sh start NAME experiment=...   # a training run in the background (Hydra overrides)
#   bash scripts/gpu/train.sh watch SECONDS               # keep this device call in flight for SECONDS, printing
#     each run's latest row every minute: the machine goes back ~30 s after the last call ends, and the runs with
#     it (2026-11-30: five minutes of training lost), so follow `start` with watch calls until the runs are done
#   bash scripts/gpu/train.sh collect                     # copy every run's log.txt and output tail to $OUT
#     (these runs write every metric into log.txt, logger.txt.columns=all: losses, timings, reward terms)
#   bash scripts/gpu/train.sh stop NAME                   # stop a run (its log to $OUT), to give its GPU to others
#   bash scripts/gpu/train.sh finish NAME experiment=...  # stop a run and test its checkpoint (its run config)
#     on TEST_EPISODES episodes (default 1024, one per env; a 1024-episode mean of the steering controller's speed
#     error varied by 0.03 m/s from seed to seed on 2026-11-30: 4096 narrows it)
#   bash scripts/gpu/train.sh onnx NAME experiment=...    # export a tracking policy to ONNX (NAME.onnx + .json, ~5 MB)
#   bash scripts/gpu/train.sh eval NAME                   # mode=eval of a tracking policy on every clip of its motion
#     (32 episodes per clip: one from the start, 31 from random phases) -> NAME_eval.md, .csv, _per_frame.png
#   bash scripts/gpu/train.sh zoo NAME                    # its policy for the model zoo (actor and normaliser in
#     float16 with the run config, ~2.5 MB: mimickit.tools.export_policy) -> zoo/NAME/
#   bash scripts/gpu/train.sh freeze NAME                 # copy a running run's checkpoint and config to NAME_frozen/
#     (an ASE high-level controller needs a low-level policy that no longer changes: algo.llc_model_file=...)
#   bash scripts/gpu/train.sh video NAME [overrides]      # NAME.gif of its checkpoint (CPU engine, EGL rendering)
#   bash scripts/gpu/train.sh pack                        # everything in $OUT but the gifs into one results.tgz
#     (the device brings back 8 files, ~64 MiB in all)
#   bash scripts/gpu/train.sh keep NAME...                # each run's checkpoint, config and log, in parts of
#     15 MiB (keep_NAME.tar.part_aa, ...; an AMP run ~32 MB, ASE ~104 MB) into /tmp/gpu_keep, to continue it in a
#     later session
#   bash scripts/gpu/train.sh fetch                       # move the next four kept parts to $OUT (a call brings
#     back at most 8 files and ~64 MiB in all; what is over is lost, 2026-11-29); repeat until "nothing left".
#     Here, copy the parts to .runs/parts (git-ignored).
#   bash scripts/gpu/train.sh stash                       # in a later session, carry .runs/parts a few at a
#     time (a call carries 64 MiB with the tree, 35 MB on 2026-11-30: one 15 MB part per call), each call
#     running `stash` (copies them to /tmp/gpu_parts); then
#   bash scripts/gpu/train.sh unstash                     # rebuilds the runs they hold in /tmp/gpu_runs, which
#     `start NAME ...` then resumes (resume=true)
#
# Runs live in /tmp/gpu_runs/NAME (the device keeps them while it stays warm); the clips come from
# data/motions/humanoid (git-ignored: carry it).
set -uo pipefail
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
out=${OUT:-/tmp/gpu_out}
runs=/tmp/gpu_runs
kept=/tmp/gpu_keep
parts=/tmp/gpu_parts
mkdir -p "$out" "$runs"
common=(sim=mjwarp device=cuda)

case "$1" in
  warm)
    timeout 400 python3 -m mimickit.run "${common[@]}" experiment=deepmimic_humanoid_ppo num_envs=16 max_iters=1 \
      test_episodes=0 hydra.run.dir=/tmp/gpu_warm/$$ 2>&1 | tail -1
    ;;
  bench)
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
    timeout 300 python3 scripts/bench_sim.py --sim mjwarp --device cuda --num-envs 1024 4096 16384 2>&1 | tee "$out/bench_sim.log"
    timeout 400 python3 scripts/bench_train.py --sim mjwarp --device cuda --num-envs 4096 --methods \
      deepmimic_humanoid_ppo amp_humanoid_locomotion add_humanoid_spinkick 2>&1 | tee "$out/bench_train.log"
    ;;
  graph_update)
    { timeout 300 python3 -m pytest -q -rfE -p no:cacheprovider tests/agents/test_graph_update.py 2>&1 | grep -v "^Module "
      for flag in false true; do
        timeout 400 python3 scripts/bench_train.py --sim mjwarp --device cuda --num-envs 4096 --methods \
          deepmimic_humanoid_ppo amp_humanoid_locomotion add_humanoid_spinkick -- algo.graph_update=$flag 2>&1 | grep -v "^Module " | sed "s/^/graph_update=$flag /"
      done; } 2>&1 | tee "$out/graph_update.log"
    ;;
  start)
    name=$2; shift 2
    resume=()
    if [ -e ".runs/$name/model.pt" ] && [ ! -e "$runs/$name/model.pt" ]; then  # kept from an earlier session
      mkdir -p "$runs" && cp -r ".runs/$name" "$runs/"
    fi
    [ -e "$runs/$name/model.pt" ] && resume=(resume=true)
    mkdir -p "$runs/$name"
    setsid nohup python3 -m mimickit.run "${common[@]}" num_envs=4096 max_iters=1000000 test_episodes=0 \
      logger.txt.columns=all "${resume[@]}" \
      algo.iters_per_output=20 hydra.run.dir="$runs/$name" "$@" >> "$runs/$name/stdout.txt" 2>&1 < /dev/null &
    ;;
  keep)
    shift
    mkdir -p "$kept"
    for name in "$@"; do
      tar cf - -C "$runs" "$name/model.pt" "$name/config.yaml" "$name/log.txt" \
        | split -b 15M - "$kept/keep_$name.tar.part_"
    done
    ;;
  fetch)
    next=$(ls "$kept" 2>/dev/null | head -4)
    [ -z "$next" ] && { echo "nothing left"; exit 0; }
    for part in $next; do mv "$kept/$part" "$out/"; done
    echo "fetched" $next; echo "left: $(ls "$kept" | wc -l) parts"
    ;;
  stash)
    mkdir -p "$parts" && cp .runs/parts/* "$parts/" && ls "$parts"
    ;;
  unstash)
    for name in $(ls "$parts" | sed -n 's/^keep_\(.*\)\.tar\.part_..$/\1/p' | sort -u); do
      cat "$parts/keep_$name.tar.part_"* | tar xf - -C "$runs" && echo "unstashed $name"
    done
    ;;
  watch)
    end=$((SECONDS + $2))
    while (( SECONDS < end )); do
      sleep $(( end - SECONDS < 60 ? end - SECONDS : 60 ))
      python3 - "$runs" <<'PY'
import glob, os, sys
from mimickit.loggers.txt_logger import read_txt_log
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*", "log.txt"))):
    log = read_txt_log(path)
    keys = ["samples", "wall_time_s", "train/return", "train/episode_length"]
    keys += [k for k in log if k.startswith("train/episode/") and k.endswith(("_err", "_err_deg", "error"))]
    print(os.path.basename(os.path.dirname(path)), " ".join(f"{k.split('/')[-1]}={log[k][-1]:.4g}" for k in keys if k in log))
PY
    done
    ;;
  collect)
    for dir in "$runs"/*/; do
      name=$(basename "$dir")
      cp "$dir/log.txt" "$out/${name}_log.txt" 2>/dev/null
      tail -20 "$dir/stdout.txt" > "$out/${name}_stdout.txt" 2>/dev/null
      echo "== $name"; tail -2 "$dir/stdout.txt"
    done
    ;;
  stop)
    # from a device call's own command line, `pkill -f "hydra.run.dir=..."` matches that shell too and kills it
    pkill -f "hydra.run.dir=$runs/$2 " ; sleep 3
    cp "$runs/$2/log.txt" "$out/${2}_log.txt"
    ;;
  finish)
    name=$2; shift 2
    bash "$0" stop "$name"
    timeout "${TEST_TIMEOUT:-240}" python3 -m mimickit.run "${common[@]}" num_envs=${TEST_EPISODES:-1024} mode=test \
      test_episodes=${TEST_EPISODES:-1024} model_file="$runs/$name/model.pt" hydra.run.dir="$runs/${name}_test" "$@" \
      2>&1 | tail -5
    cp "$runs/${name}_test/metrics.json" "$out/${name}_test_metrics.json"
    ;;
  onnx)
    name=$2; shift 2
    timeout 120 python3 -m mimickit.tools.export_onnx model_file="$runs/$name/model.pt" output="$out/$name.onnx" \
      "$@" 2>&1 | tail -1 || true
    ;;
  eval)
    name=$2
    timeout "${EVAL_TIMEOUT:-300}" python3 -m mimickit.run "${common[@]}" num_envs=1024 mode=eval \
      eval.random_starts=31 model_file="$runs/$name/model.pt" hydra.run.dir="$runs/${name}_eval" 2>&1 | tail -3
    cp "$runs/${name}_eval/eval.md" "$out/${name}_eval.md"
    cp "$runs/${name}_eval/eval.csv" "$out/${name}_eval.csv"
    cp "$runs/${name}_eval/eval_per_frame.png" "$out/${name}_eval_per_frame.png"
    ;;
  zoo)
    timeout 120 python3 -m mimickit.tools.export_policy model_file="$runs/$2/model.pt" output="$out/zoo/$2" 2>&1 \
      | tail -1
    ;;
  freeze)
    mkdir -p "$runs/${2}_frozen" && cp "$runs/$2/model.pt" "$runs/$2/config.yaml" "$runs/${2}_frozen/"
    ;;
  video)
    name=$2; shift 2
    MUJOCO_GL=egl timeout 240 python3 -m mimickit.run sim=mujoco device=cpu num_envs=1 mode=test test_episodes=1 \
      video=true recorder.file_format=gif recorder.width=480 recorder.height=360 \
      model_file="$runs/$name/model.pt" hydra.run.dir="$runs/${name}_video" "$@" 2>&1 | tail -3
    cp "$runs/${name}_video/policy.gif" "$out/${name}.gif"
    ;;
  pack)
    # built outside $out: tar fails on a folder that changes while it reads it
    # the zoo's policies go in tarballs of their own, two or three per file (16 MiB at most each)
    (cd "$out" && if [ -d zoo ]; then
       i=0; for d in zoo/*/; do tar rf /tmp/zoo_$((i / 3)).tar "$d"; i=$((i + 1)); done
       rm -rf zoo; mv /tmp/zoo_*.tar .; fi
     tar czf /tmp/results.tgz --exclude='*.gif' --exclude='zoo_*.tar' . \
       && find . -maxdepth 1 -type f ! -name '*.gif' ! -name 'zoo_*.tar' -delete && mv /tmp/results.tgz .)
    ;;
esac
