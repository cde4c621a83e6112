"""Preparing a corpus takes bounded memory: peak RSS does not grow with the corpus size."""

import json
import subprocess
import sys

import numpy as np

# ru_maxrss survives exec on Linux (a child started from pytest reports pytest's peak), so on Linux the
# child reads its own VmHWM/VmRSS, after resetting the high-water mark once imports are done.
CHILD = r"""
import json, os, resource, sys
from pathlib import Path
import electra.data.prepare
from electra.data.prepare import PackingConfig, prepare_corpus
from electra.data.tokenizer import load_tokenizer

def status_kb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

corpus, vocab, out = map(Path, sys.argv[1:4])
# Smaller tokenizing chunks than the default, so that even the small corpus spans several of them and
# the allocator reaches its steady state.
electra.data.prepare.CHUNK_CHARACTERS = 200_000
tok = load_tokenizer(vocab)
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
except OSError:
    pass
before = status_kb("VmRSS")
result = prepare_corpus([corpus], tok, out, PackingConfig(max_seq_length=64, shard_size=2000), progress=False)
peak = status_kb("VmHWM")
manifest = json.loads((result / "manifest.json").read_text())
print(json.dumps({"before_kb": before, "peak_kb": peak, "examples": manifest["num_examples"],
                  "shards": len(manifest["shards"]), "tokens": manifest["num_tokens"]}))
"""


def run_child(corpus, vocab, out):
    proc = subprocess.run([sys.executable, "-c", CHILD, str(corpus), str(vocab), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_peak_memory_does_not_grow_with_corpus(tmp_path):
    words = [f"w{i}" for i in range(3000)]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    rng = np.random.default_rng(0)
    ids = rng.integers(0, len(words), 260_000)
    lines = [" ".join(words[i] for i in ids[k:k + 13]) for k in range(0, len(ids), 13)]
    # 20 documents of 1,000 one-sentence lines each: about 260k tokens, two shards' worth.
    block = "\n\n".join("\n".join(lines[d:d + 1000]) for d in range(0, len(lines), 1000)) + "\n\n"
    small, large = tmp_path / "small.txt", tmp_path / "large.txt"
    small.write_text(block, encoding="utf-8")
    with large.open("w", encoding="utf-8") as f:
        for _ in range(10):
            f.write(block)

    s = run_child(small, vocab, tmp_path / "out-small")
    big = run_child(large, vocab, tmp_path / "out-large")
    assert big["tokens"] > 2_500_000 and big["shards"] >= 20
    grow_small = (s["peak_kb"] - s["before_kb"]) / 1024
    grow_large = (big["peak_kb"] - big["before_kb"]) / 1024
    print(f"peak RSS MiB: small {s['peak_kb'] / 1024:.1f} (+{grow_small:.1f}), "
          f"large {big['peak_kb'] / 1024:.1f} (+{grow_large:.1f})")
    # The large corpus's text alone is ~15 MB and its token ids as Python lists ~100 MB: holding either
    # would show here.
    assert big["peak_kb"] < 1.3 * s["peak_kb"] + 30 * 1024
    assert grow_large < grow_small + 8
