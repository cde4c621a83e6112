#!/usr/bin/env bash
# The encoder-decoder on one GPU: throughput against Marian, then the small preset trained for a fixed time
# on bible-en-es and scored on the held-out books; the tables last.
#
#   bash benchmarks/gpu_check_translation.sh CACHE [MINUTES]     # ~MINUTES + 3 min (default 5)
#
# CACHE is an electra cache directory holding the bible-en-es pairs (no network on the GPU machine): copy
# ~/.cache/electra/tasks/bible-en-es-* (made by any `electra seq2seq train` on it) into an ignored folder of
# the checkout, e.g. .gpu/cache/tasks/, and carry .gpu. Run from the repository root (PYTHONPATH=src).
# Failing tests or a failing throughput run do not stop the training run (GPU time is scarce): they are named
# at the end and the exit status is non-zero.
set -euo pipefail
cache=${1:?an electra cache directory with tasks/bible-en-es-*}
minutes=${2:-5}
export PYTHONPATH=src PYTHONUNBUFFERED=1 ELECTRA_CACHE=$cache
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
failed=""
python -m pytest -q -p no:cacheprovider tests/test_seq2seq_decoding.py tests/test_nn_decoding.py || failed="$failed tests;"
python benchmarks/seq2seq.py --shape small --device cuda | tee /tmp/throughput.txt || failed="$failed throughput;"
run=$(mktemp -d)/small
start=$(date +%s)
python -m electra.cli.main seq2seq train --preset small --data.corpus bible-en-es --train.max_minutes "$minutes" \
  --train.steps 1000000 --train.save_every 1000 --train.log_every 100 -o "$run" -q
trained=$(( $(date +%s) - start ))
steps=$(ls -d "$run"/checkpoint-* | tail -1 | sed 's/.*checkpoint-0*//')
scores=$(python -m electra.cli.main seq2seq evaluate -c "$run" --beam 4 | head -1)
echo
grep -E '^(\| shape|\|---|\| small|ours / peer)' /tmp/throughput.txt || true
echo
echo "| preset | steps | wall s (train + dev evaluations) | test books (Jonah, Mark), beam 4 |"
echo "|---|---|---|---|"
echo "| small | ${steps} | ${trained} | ${scores} |"
if [ -n "$failed" ]; then echo "FAILED:$failed"; exit 1; fi
