#!/usr/bin/env bash
# Training under Slurm, as MMDetection's tools/slurm_train.sh: srun starts one task per GPU on as
# many nodes as it takes, and tools/train.py reads its rank and the master's address from Slurm
# (--launcher slurm).
#   [GPUS=16] [GPUS_PER_NODE=8] [CPUS_PER_TASK=8] [SRUN_ARGS=...] \
#       bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# Inside an sbatch script, give the same numbers to #SBATCH and call it as above.
set -euo pipefail
if [ $# -lt 4 ]; then
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
shift 4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
CPUS_PER_TASK=${CPUS_PER_TASK:-8}
PYTHON=${PYTHON:-python}
read -r -a SRUN_EXTRA <<< "${SRUN_ARGS:-}"
PYTHONPATH="$(dirname "$0")/..:${PYTHONPATH:-}" \
exec srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" \
  --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
  --kill-on-bad-exit=1 "${SRUN_EXTRA[@]}" \
  "$PYTHON" -u "$(dirname "$0")/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher slurm "$@"
