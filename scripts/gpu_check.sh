#!/usr/bin/env bash
# The one command to run on a lent GPU machine: `ganbench doctor --device cuda` on a CIFAR-10 slice.
#
# Expected wall time on one H200: at most about 8.5 minutes, by estimate (it has not run on a GPU yet):
# the doctor's --budget is 480 s (a section that would start later is reported skipped, a started one
# finishes, compile last), setup takes seconds. Give the device call timeout_s=570.
#
# Here first, on the CPU machine (the GPU machine has no network, and ../shared does not travel):
#   scripts/gpu_check.sh prepare     # -> scratch/gpu/: a 2-class CIFAR slice (~9 MB), the torch-fidelity
#                                    #    wheel, COMMIT (scratch/ is git-ignored, so it travels only carried)
# then the device tool's run with  carry=["scratch/gpu"]  and  command="bash scripts/gpu_check.sh".
# There it
#   1. installs every carried wheel (scratch/gpu/*.whl, shared/*.whl, or --wheels DIR) into /tmp/site,
#   2. makes ganbench importable without installing it (links in /tmp/ganbench-path), unless it is,
#   3. extracts the CIFAR slice (scratch/gpu/*.tar, or --cifar TAR) into /tmp/cifar,
#   4. runs ganbench doctor --device cuda --data /tmp/cifar --out $OUT/gpu, its log teed to $OUT/doctor.log.
# $OUT/gpu/<date>-<gpu>/ then holds report.md, report.json and bench.json: copy that folder into
# results/gpu/ here and commit it.
#
# Options: --cifar TAR, --wheels DIR, --budget SECONDS (default 480; LIMIT=540 stops it), --tiny (narrow nets: a shorter smoke test of the
# same CUDA paths; its two cold inductor compiles still take a minute or more).
# Two classes, not one: the classifier metric's features are learnt from the labels, and one class
# teaches it nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PREP=scratch/gpu

if [[ "${1:-}" == "prepare" ]]; then
    shift
    SOURCE=${CIFAR_SOURCE:-../shared/data/cifar10-train-jpeg.tar}
    CLASSES=${CLASSES:-"airplane automobile"}
    mkdir -p "$PREP"
    tmp=$(mktemp -d)
    members=()
    for c in $CLASSES; do members+=("train/$c"); done
    tar -xf "$SOURCE" -C "$tmp" "${members[@]}"
    tar -cf "$PREP/cifar-slice.tar" -C "$tmp" train
    rm -rf "$tmp"
    version=$(python3 -c "import importlib.metadata as m; print(m.version('torch-fidelity'))" 2>/dev/null || echo 0.4.0)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 -d "$PREP" "torch-fidelity==$version"
    dirty=$(git status --porcelain --untracked-files=no -- benchmark plugins | head -c1)
    echo "$(git rev-parse --short HEAD)${dirty:+-dirty}" > "$PREP/COMMIT"
    du -sh "$PREP"
    echo "now: run(command=\"bash scripts/gpu_check.sh\", carry=[\"$PREP\"], timeout_s=570)"
    exit 0
fi

CIFAR="" WHEELS="" BUDGET=480 EXTRA=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --cifar) CIFAR=$2; shift 2 ;;
        --wheels) WHEELS=$2; shift 2 ;;
        --budget) BUDGET=$2; shift 2 ;;
        --tiny) EXTRA+=(--tiny); shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
OUT=${OUT:-$PWD/scratch/gpu-out}
mkdir -p "$OUT/gpu"
export PYTHONUNBUFFERED=1

shopt -s nullglob
wheels=("$PREP"/*.whl shared/*.whl)
[[ -n "$WHEELS" ]] && wheels+=("$WHEELS"/*.whl)
if (( ${#wheels[@]} )); then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "${wheels[@]}"
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
if ! python3 -c "import ganbench.cli" 2>/dev/null; then
    mkdir -p /tmp/ganbench-path
    ln -sfn "$PWD/benchmark" /tmp/ganbench-path/ganbench
    ln -sfn "$PWD/plugins" /tmp/ganbench-path/ganbench_plugins
    export PYTHONPATH=/tmp/ganbench-path${PYTHONPATH:+:$PYTHONPATH}
fi

tars=("$PREP"/*.tar)
[[ -z "$CIFAR" && ${#tars[@]} -gt 0 ]] && CIFAR=${tars[0]}
DATA=()
if [[ -n "$CIFAR" ]]; then
    mkdir -p /tmp/cifar
    tar -xf "$CIFAR" -C /tmp/cifar
    DATA=(--data /tmp/cifar)
fi
[[ -f "$PREP/COMMIT" ]] && export GANBENCH_COMMIT=$(cat "$PREP/COMMIT")
export GANBENCH_CACHE=${GANBENCH_CACHE:-/tmp/ganbench-cache}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee "$OUT/doctor.log" || true
set +e
# SIGINT at 540 s, inside the device call's 570: the doctor then writes what it has (its report is
# rewritten after every part anyway) and stops
timeout --signal=INT --kill-after=20 "${LIMIT:-540}" \
    python3 -m ganbench.cli doctor --device cuda ${DATA[@]+"${DATA[@]}"} ${EXTRA[@]+"${EXTRA[@]}"} \
    --out "$OUT/gpu" --budget "$BUDGET" 2>&1 | tee -a "$OUT/doctor.log"
rc=${PIPESTATUS[0]}
ls -R "$OUT/gpu"
exit "$rc"
