#!/bin/bash
# The CUDA checks of issue 14, as one script for a machine with a GPU, torch and NumPy but no
# network (and no Amaranth): training speed of the lwc demo mnist recipe on the GPU (one run, and
# eight at once), the CUDA tests (every method trains and proves its net on the GPU; the same
# seed gives the same net), next to the reference trainer.
#
#   bench/gpu_check.sh CARRY
#
# CARRY is a folder holding lwc's wheel (pip wheel --no-deps .), the MNIST IDX files (mnist/)
# and a copy of this tree (src/: bench/ and tests/ are run from there); bench/gpu_prepare.sh
# makes it. Everything printed also goes to $OUT/gpu_check.log when OUT is set.
set -u
CARRY=$(cd "${1:-.whl/train}" && pwd)
LOG=${OUT:-/tmp}/gpu_check.log
export PYTHONUNBUFFERED=1
exec > >(tee "$LOG") 2>&1

step() {  # step SECONDS COMMAND...: run with a time limit, say how it ended
    local limit=$1; shift
    echo; echo "== $* (limit ${limit}s)"
    local start=$SECONDS
    timeout "$limit" "$@"
    echo "== exit $? after $((SECONDS - start)) s"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$CARRY"/lwc-*.whl \
    || exit 1
export PYTHONPATH=/tmp/site
cd "$CARRY/src" || exit 1
python3 -P -c "import sys, torch, numpy, sklearn, lwc.train; print(sys.version.split()[0], 'torch',
torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))"
DATA="$CARRY/mnist"

# The recipe at its own batch size (64): seconds per epoch over 3 epochs, beside the reference.
step 60 python3 bench/train_speed.py --data-dir "$DATA" --devices cuda --epochs 3
# The whole recipe (60 epochs) at batch 1024, at the recipe's lr and a larger one (large batches
# may need their own): total time and test accuracy, beside the reference.
step 80 python3 bench/train_speed.py --data-dir "$DATA" --devices cuda --batch-size 1024
step 80 python3 bench/train_speed.py --data-dir "$DATA" --devices cuda --batch-size 1024 \
    --lr 0.1 --no-reference --precisions fp32,bf16
# Eight trainings at once on the one GPU against one alone (same options, same run).
step 40 python3 bench/train_speed.py --data-dir "$DATA" --devices cuda --batch-size 1024 \
    --epochs 10 --no-reference
step 70 python3 bench/train_speed.py --data-dir "$DATA" --devices cuda --batch-size 1024 \
    --epochs 10 --no-reference --concurrent 8
step 110 python3 bench/train_speed.py --data-dir "$DATA" --devices cuda --epochs 2 \
    --no-reference --concurrent 8
# The CUDA tests: every method on the GPU (export proven), the same seed gives the same net.
# (-P: src/lwc, the CLI package folder, must not shadow the installed lwc.)
step 100 python3 -P -m pytest -q -p no:cacheprovider -W default tests/train/test_device.py -rs
