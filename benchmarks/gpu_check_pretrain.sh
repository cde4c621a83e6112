#!/usr/bin/env bash
# The pretraining step on one GPU: correctness first, then every variant timed, the tables last.
#
#   bash benchmarks/gpu_check_pretrain.sh quick CORPUS   # ~9 min: what decides the targets, in one session's time
#   bash benchmarks/gpu_check_pretrain.sh small CORPUS   # ~8 min: GPU tests, Small variants, the real command
#   bash benchmarks/gpu_check_pretrain.sh base CORPUS    # ~8 min: Base variants (selective checkpointing too), FSDP
#
# CORPUS is a text file (no network on the GPU machine: copy the cached wiki-en text into an ignored folder
# of the checkout and carry it, e.g. .gpu/wiki-en.txt from ~/.cache/electra/corpora/wiki-en-*.txt).
# Run from the repository root; needs torch with CUDA and transformers (the project via PYTHONPATH=src).
# A failing test or variant does not stop the rest (GPU time is scarce): each failure is named at the end, after
# the table, and the exit status is non-zero.
set -uo pipefail
part=${1:?quick, small or base}
corpus=${2:?a corpus text file}
export PYTHONPATH=src PYTHONUNBUFFERED=1 ELECTRA_CACHE=${ELECTRA_CACHE:-/tmp/electra-cache}
failed=""
check() {  # check NAME COMMAND...: run it; remember the name when it fails
  local name=$1; shift
  "$@" || failed="$failed $name;"
}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python -c "import torch, transformers; print('torch', torch.__version__, '| transformers', transformers.__version__)"
if [ "$part" = quick ]; then
  # The GPU-only tests (captured graph vs eager, fused output in bf16 and its memory), then the whole-step
  # variants against the compiled peer at both sizes, and the real command on Small.
  check "GPU tests" python -m pytest -q -p no:cacheprovider tests/test_step_graph.py tests/test_fused_output.py
  check "Small step" python benchmarks/pretrain_step.py --shape small --variants ours-step,ours-step+fused,peer-compile \
    --steps 30 --warmup 6 --real-corpus "$corpus" --real-steps 300 --real-launch single --real-timeout 200
  check "Base step" python benchmarks/pretrain_step.py --shape base \
    --variants ours-step+fused,ours-step+fused+selective,peer-compile --steps 20 --warmup 5
elif [ "$part" = small ]; then
  # The captured whole step against eager and compiled steps; activation checkpointing; the compiled objective.
  check "GPU tests" python -m pytest -q -p no:cacheprovider tests/test_step_graph.py tests/test_compiled_step.py \
    tests/test_activation_checkpointing.py tests/test_fused_output.py
  check "SDPA kernels" python benchmarks/sdpa_kernels.py  # which attention kernel the padding mask leaves
  check "Small step" python benchmarks/pretrain_step.py --shape small \
    --variants ours-compile,ours-graphs,ours-step,ours-step+fused,peer-compile \
    --steps 30 --warmup 6 --real-corpus "$corpus" --real-steps 300 --real-launch single,ddp --real-timeout 240
else
  check "Base step" python benchmarks/pretrain_step.py --shape base \
    --variants ours-compile,ours-step,ours-step+fused,ours-step+fused+selective,peer-compile \
    --steps 20 --warmup 5 --real-corpus "$corpus" --real-steps 100 --real-launch fsdp --real-timeout 240
fi
if [ -n "$failed" ]; then echo "FAILED:$failed"; exit 1; fi
