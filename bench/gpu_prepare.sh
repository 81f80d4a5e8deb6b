#!/bin/bash
# Makes the folder bench/gpu_check.sh takes: lwc's wheel, the MNIST IDX files and a copy of this
# tree's committed state (src/).
#
#   bench/gpu_prepare.sh DEST [MNIST_DIR]     (MNIST_DIR default ../shared/data/mnist)
set -eu
DEST=$1
MNIST=${2:-../shared/data/mnist}
rm -rf "$DEST"
mkdir -p "$DEST/src" "$DEST/mnist"
python -m pip wheel -q --no-deps --no-build-isolation -w "$DEST" .
git archive HEAD | tar -x -C "$DEST/src"
cp "$MNIST"/*-ubyte.gz "$DEST/mnist/"
du -sh "$DEST"
