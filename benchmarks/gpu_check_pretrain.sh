#!/usr/bin/env bash
# The pretraining step on one GPU: correctness first, then every variant timed, the tables last.
#
#   bash benchmarks/gpu_check_pretrain.sh small CORPUS   # ~8 min: GPU tests, Small variants, the real command
#   bash benchmarks/gpu_check_pretrain.sh base CORPUS    # ~7 min: Base variants, the real command under FSDP
#
# CORPUS is a text file (no network on the GPU machine: copy the cached wiki-en text into an ignored folder
# of the checkout and carry it, e.g. .gpu/wiki-en.txt from ~/.cache/electra/corpora/wiki-en-*.txt).
# Run from the repository root; needs torch with CUDA and transformers (the project via PYTHONPATH=src).
set -euo pipefail
part=${1:?small or base}
corpus=${2:?a corpus text file}
export PYTHONPATH=src PYTHONUNBUFFERED=1 ELECTRA_CACHE=${ELECTRA_CACHE:-/tmp/electra-cache}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python -c "import torch, transformers; print('torch', torch.__version__, '| transformers', transformers.__version__)"
if [ "$part" = small ]; then
  # The captured whole step against eager and compiled steps; activation checkpointing; the compiled objective.
  python -m pytest -q -p no:cacheprovider tests/test_step_graph.py tests/test_compiled_step.py \
    tests/test_activation_checkpointing.py tests/test_fused_output.py
  python benchmarks/sdpa_kernels.py  # which attention kernel the padding mask leaves, and its cost
  python benchmarks/pretrain_step.py --shape small --variants ours-compile,ours-graphs,ours-step,ours-step+fused,peer-compile \
    --steps 30 --warmup 6 --real-corpus "$corpus" --real-steps 300 --real-launch single,ddp
else
  python benchmarks/pretrain_step.py --shape base --variants ours-compile,ours-step,ours-step+fused,peer-compile \
    --steps 20 --warmup 5 --real-corpus "$corpus" --real-steps 100 --real-launch fsdp
fi
