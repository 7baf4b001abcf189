#!/usr/bin/env bash
# Several trainings at once on the device machine's GPUs, from a list of lines "NAME GPU OVERRIDES..." (GPU: the
# CUDA device index; '#' starts a comment). Each action applies to every run of the list, or to the NAMEs given.
#
#   bash scripts/gpu/batch.sh start LIST [NAME...]    # start the runs in the background (train.sh start)
#   bash scripts/gpu/batch.sh finish LIST [NAME...]   # stop and test them all at once, then a gif of each -> $OUT
#     (tracking runs: also their ONNX export)
#   bash scripts/gpu/batch.sh zoo LIST [NAME...]      # stop, test and evaluate tracking runs, and export each one's
#     policy for the model zoo (no gif: render the zoo's policies where they land)
#
# Example list: scripts/gpu/runs_2026-11-29.txt. BATCH_GPU=0 puts every run of a list on that GPU (a list written
# for a machine with more GPUs than the one lent); BATCH_EXTRA="algo.graph_update=true" adds overrides to every run.
set -uo pipefail
here=$(dirname "$0")
action=$1 list=$2
shift 2
out=${OUT:-/tmp/gpu_out}
mkdir -p "$out"
bash "$here/train.sh" warm  # the kernels compiled once, before the runs start or are tested side by side
while read -r name gpu args; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  (( $# )) && [[ " $* " != *" $name "* ]] && continue
  gpu=${BATCH_GPU:-$gpu}
  args="$args ${BATCH_EXTRA:-}"
  case "$action" in
    start) CUDA_VISIBLE_DEVICES=$gpu bash "$here/train.sh" start "$name" $args ;;
    finish)
      { CUDA_VISIBLE_DEVICES=$gpu bash "$here/train.sh" finish "$name" $args
        CUDA_VISIBLE_DEVICES=$gpu bash "$here/train.sh" onnx "$name" $args
        bash "$here/train.sh" video "$name" $args; } > "$out/${name}_finish.txt" 2>&1 &
      ;;
    zoo)
      { CUDA_VISIBLE_DEVICES=$gpu bash "$here/train.sh" finish "$name" $args
        CUDA_VISIBLE_DEVICES=$gpu bash "$here/train.sh" eval "$name"
        bash "$here/train.sh" zoo "$name"; } > "$out/${name}_finish.txt" 2>&1 &
      ;;
    *) echo "unknown action $action" >&2; exit 2 ;;
  esac
done < "$list"
wait
