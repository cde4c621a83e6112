"""Data-parallel pretraining on CPU with the gloo backend and two processes.

* One DDP step over a global batch split across two ranks gives the same gradients as one process.
* ``torchrun --nproc_per_node 2 ... electra pretrain`` writes one set of checkpoints and one metrics file,
  and its checkpoint resumes in a single process at the right step and data position.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file
from test_pretrain import MICRO, write_corpus
from torch import nn

from electra.cli.main import main as cli_main
from electra.core.runtime import derived_seed
from electra.data.shards import PretrainBatches
from electra.objectives import masked_lm as masked_lm_mod
from electra.recipes.pretrain import run as pretrain_mod
from electra.recipes.pretrain.build import build_model, build_objective
from electra.recipes.pretrain.config import build_config
from electra.tokens import masking, sampling
from electra.train.metrics import read_metrics

WORLD = 2
GLOBAL_BATCH = 8
SEQ = 32
VOCAB = 64
SPECIAL = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
BATCH_INDEX = 1  # the second global batch, so that offsets into the epoch's order matter


# --------------------------------------------------------------------------------------------------
# Gradients of one DDP step
# --------------------------------------------------------------------------------------------------


class ArrayShards:
    """In-memory stand-in for :class:`TokenShards`: what :class:`PretrainBatches` reads from it."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows
        self.sep_id = SPECIAL["sep"]
        self.pad_id = SPECIAL["pad"]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, indices: np.ndarray) -> np.ndarray:
        return self.rows[np.asarray(indices)]


def make_rows(padded: bool, n: int = 3 * GLOBAL_BATCH, seed: int = 0) -> np.ndarray:
    """``[CLS] a [SEP] b [SEP]`` rows; ``padded`` varies their lengths (ranks get unequal token counts)."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(5, VOCAB, size=(n, SEQ))
    lengths = rng.integers(10, SEQ + 1, size=n) if padded else np.full(n, SEQ)
    for i, length in enumerate(lengths):
        rows[i, 0] = SPECIAL["cls"]
        rows[i, length // 2] = SPECIAL["sep"]
        rows[i, length - 1] = SPECIAL["sep"]
        rows[i, length:] = SPECIAL["pad"]
    return rows


def build_micro_objective() -> nn.Module:
    """The micro ELECTRA of ``test_pretrain`` without dropout, with the same weights in every process, on the
    plain output layer (:class:`RowwiseRandomness` replaces its sampler; the fused one draws its own noise)."""
    cfg = build_config("tiny", None, [*MICRO, "--model.dropout", "0", "--model.attention_dropout", "0",
                                      "--objective.fused_output", "false"])  # fmt: skip
    torch.manual_seed(0)
    return build_objective(build_model(cfg, VOCAB), cfg, SPECIAL)


def _row_seed(row: torch.Tensor) -> int:
    return int(hashlib.sha256(row.numpy().tobytes()).hexdigest()[:15], 16)


class RowwiseRandomness:
    """Masking and Gumbel noise for each row drawn from a generator seeded by that row's tokens.

    The objective normally draws from the global RNG, so which positions get masked depends on where a row
    sits in the batch and on what was drawn before. With this, a row is corrupted the same way whether it
    is in a rank's half-batch or in the whole global batch, and gradients can be compared exactly.
    """

    def __init__(self) -> None:
        self.seeds: list[int] = []

    def mask_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *args: Any, **kw: Any):
        self.seeds = [_row_seed(row) for row in input_ids]
        parts = [
            masking.mask_tokens(input_ids[i : i + 1], attention_mask[i : i + 1], *args,
                                generator=torch.Generator().manual_seed(s), **kw)
            for i, s in enumerate(self.seeds)
        ]  # fmt: skip
        fields = ("input_ids", "positions", "weights", "targets")
        return masking.MaskedBatch(*(torch.cat([getattr(p, f) for p in parts]) for f in fields))

    def gumbel_sample(self, logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        rows = [logits[i : i + 1] for i in range(len(logits))]
        gens = [torch.Generator().manual_seed(s + 1) for s in self.seeds]
        samples = [
            sampling.gumbel_sample(r, temperature, generator=g)
            for r, g in zip(rows, gens, strict=True)
        ]
        return torch.cat(samples)


def rank_batch(rows: np.ndarray, rank: int, world: int) -> dict[str, torch.Tensor]:
    """Rank ``rank``'s part of global batch ``BATCH_INDEX``, exactly as the training loop reads it."""
    batches = PretrainBatches(ArrayShards(rows), GLOBAL_BATCH // world, seed=0, rank=rank, world_size=world)
    return batches[BATCH_INDEX]


def gradients(objective: nn.Module, batches: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Gradients of the mean over ``batches`` of the objective's loss on each."""
    objective.zero_grad(set_to_none=True)
    for b in batches:
        loss = objective(b["input_ids"], b["attention_mask"], b["token_type_ids"])["loss"]
        (loss / len(batches)).backward()
    return {n: p.grad.clone() for n, p in objective.named_parameters()}


CASES = {"padded": True, "full": False}


def _ddp_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    """One rank: one DDP forward/backward on its share of each case's global batch; saves the gradients."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        rr = RowwiseRandomness()
        masked_lm_mod.mask_tokens, masked_lm_mod.gumbel_sample = rr.mask_tokens, rr.gumbel_sample
        objective = build_micro_objective()
        ddp = nn.parallel.DistributedDataParallel(objective)
        grads = {}
        for case, padded in CASES.items():
            b = rank_batch(make_rows(padded), rank, world)
            ddp.zero_grad(set_to_none=True)
            ddp(b["input_ids"], b["attention_mask"], b["token_type_ids"])["loss"].backward()
            grads[case] = {n: p.grad.clone() for n, p in objective.named_parameters()}
        torch.save(grads, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Largest elementwise difference between two sets of gradients."""
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def assert_same_gradients(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], rtol: float = 0.0) -> None:
    """Every gradient equal within 1e-6 absolute (plus ``rtol`` relative)."""
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=rtol, msg=lambda m, k=k: f"{k}: {m}")


def test_two_process_ddp_step_has_the_gradients_of_one_process(tmp_path, monkeypatch):
    """What is asserted, with masking and sampling made to depend on the data only and dropout off:

    1. Always (padded rows, so the ranks hold different numbers of real tokens): the DDP gradient equals,
       within 1e-6 absolute, the 1-process gradient of the *mean of the two ranks' losses*, each loss the
       objective's own per-batch mean. That is DDP's contract, and it is also what one process with
       ``train.grad_accum 2`` computes over the same global batch.
    2. When both halves hold the same number of real tokens and masked slots (full-length rows), that is
       also the gradient of the objective's loss over the whole global batch in one process, within 1e-6
       absolute + 1e-6 relative: the batch of 8 sums in another order than two of 4, and the largest
       gradient (~19) is only representable to ~2e-6 in float32.
    3. With unequal token counts 2. does not hold: the discriminator loss is a mean over a rank's real
       tokens (the MLM loss over its masked slots), so the data-parallel loss weights tokens of the rank
       with fewer of them more. The test checks that the difference is real (well above 1e-6), so that
       nobody mistakes 1. for the global-batch gradient.
    """
    mp.spawn(_ddp_worker, args=(WORLD, free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    per_rank = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]

    rr = RowwiseRandomness()
    monkeypatch.setattr(masked_lm_mod, "mask_tokens", rr.mask_tokens)
    monkeypatch.setattr(masked_lm_mod, "gumbel_sample", rr.gumbel_sample)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        objective = build_micro_objective()
        for case, padded in CASES.items():
            rows = make_rows(padded)
            halves = [rank_batch(rows, r, WORLD) for r in range(WORLD)]
            whole = rank_batch(rows, 0, 1)
            for k in whole:  # the ranks' shares, in rank order, are the global batch
                assert torch.equal(torch.cat([h[k] for h in halves]), whole[k]), k
            ddp = per_rank[0][case]
            assert max_abs_diff(ddp, per_rank[1][case]) == 0.0, "ranks disagree after the all-reduce"
            assert any(float(g.abs().max()) > 1e-3 for g in ddp.values())

            mean_of_halves = gradients(objective, halves)
            global_batch = gradients(objective, [whole])
            assert_same_gradients(ddp, mean_of_halves)
            tokens = [int(h["attention_mask"].sum()) for h in halves]
            if padded:
                assert tokens[0] != tokens[1]
                assert max_abs_diff(ddp, global_batch) > 1e-3, "expected per-rank averaging to matter"
            else:
                assert tokens[0] == tokens[1]
                assert_same_gradients(ddp, global_batch, rtol=1e-6)
    finally:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------------------------------
# torchrun end to end: 2 ranks, then resume on 1
# --------------------------------------------------------------------------------------------------


def visible(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if not p.name.startswith("."))


def test_torchrun_two_ranks_then_resume_on_one(tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path / "c.txt", n_docs=60)
    out, cache = tmp_path / "run", tmp_path / "cache"
    common = ["pretrain", "--preset", "tiny", "-q", *MICRO, "--data.corpus", str(corpus), "-o", str(out),
              "--train.save_every", "2"]  # fmt: skip
    env = {**os.environ, "ELECTRA_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(WORLD)]
    proc = subprocess.run(
        [*launcher, "-m", "electra.cli.main", *common, "--train.steps", "3"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]

    # One writer: one set of checkpoints, no temporaries, one metrics row per step.
    assert visible(out) == ["checkpoint-0000002", "checkpoint-0000003", "config.yaml", "loss_curves.png",
                            "metrics.jsonl"]  # fmt: skip
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(ln)["step"] for ln in lines] == [1, 2, 3]
    # Both ranks used rank 0's tokenizer and hence the same prepared data.
    assert len(visible(cache / "tokenizers")) == 1 and len(visible(cache / "prepared")) == 1
    state = torch.load(out / "checkpoint-0000003" / "trainer_state.pt", weights_only=True)
    assert (state["step"], state["epoch"], state["batch_index"]) == (3, 0, 3)
    rngs = state["rng_per_rank"]
    assert len(rngs) == WORLD and not torch.equal(rngs[0]["torch"], rngs[1]["torch"])  # own streams per rank
    assert torch.equal(state["rng"]["torch"], rngs[0]["torch"])

    # Resume in this single process: it must start at global batch 3 with the whole global batch.
    seen: list[tuple[int, int, int, int]] = []
    real_iterator = pretrain_mod.batch_iterator

    def spy(shards, batch_size, seed, **kw: Any) -> Iterator[tuple[int, int, dict[str, torch.Tensor]]]:
        for epoch, g, batch in real_iterator(shards, batch_size, seed, **kw):
            seen.append((kw["world_size"], len(batch["input_ids"]), epoch, g))
            yield epoch, g, batch

    monkeypatch.setattr(pretrain_mod, "batch_iterator", spy)
    monkeypatch.setenv("ELECTRA_CACHE", str(cache))
    assert cli_main([*common, "--train.steps", "6", "--resume"]) == 0
    assert seen == [(1, GLOBAL_BATCH, 0, 3), (1, GLOBAL_BATCH, 0, 4), (1, GLOBAL_BATCH, 0, 5)]
    assert len(visible(cache / "prepared")) == 1  # the checkpoint's tokenizer found the same data
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(ln)["step"] for ln in lines] == [1, 2, 3, 4, 5, 6]
    state = torch.load(out / "checkpoint-0000006" / "trainer_state.pt", weights_only=True)
    assert (state["step"], state["epoch"], state["batch_index"]) == (6, 0, 6)
    assert len(state["rng_per_rank"]) == 1
    before = load_file(out / "checkpoint-0000003" / "model.safetensors")
    after = load_file(out / "checkpoint-0000006" / "model.safetensors")
    assert before.keys() == after.keys() and any(not torch.equal(before[k], after[k]) for k in before)
    # The optimiser continued from the 2-rank checkpoint's state: AdamW has counted all 6 steps.
    assert {float(s["step"]) for s in state["optimizer"]["state"].values()} == {6.0}


def test_a_rank_has_its_own_random_stream() -> None:
    """Ranks > 0 reseed from (seed, rank, step): distinct per rank, independent of the world size."""
    seeds = {derived_seed(42, r, 0) for r in range(1, 8)}
    assert len(seeds) == 7 and all(0 <= s < 2**63 for s in seeds)
    assert derived_seed(42, 1, 0) != derived_seed(42, 1, 100)


def test_fsdp_trains_like_ddp_and_resumes_on_one(tmp_path, monkeypatch):
    """``--train.fsdp true`` under torchrun: the same weights as DDP after the same steps (sharding changes
    where tensors live, not the maths), one checkpoint with the whole model, resumable in one process."""
    corpus = write_corpus(tmp_path / "c.txt", n_docs=60)
    held_out = write_corpus(tmp_path / "held.txt", n_docs=20, seed=7)
    cache = tmp_path / "cache"
    env = {**os.environ, "ELECTRA_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(WORLD)]
    no_dropout = ["--model.dropout", "0", "--model.attention_dropout", "0"]

    def common(out: Path) -> list[str]:  # not -q: rank 0 prints whether it shards
        return ["pretrain", "--preset", "tiny", *MICRO, *no_dropout, "--data.corpus", str(corpus),
                "--data.eval_corpus", str(held_out), "-o", str(out), "--train.save_every", "3",
                "--train.grad_accum", "2"]  # fmt: skip

    runs = {}
    selective = ["--train.fsdp", "true", "--train.selective_checkpointing", "true"]  # recomputing inside the units
    for name, extra in (("ddp", []), ("fsdp", ["--train.fsdp", "true"]), ("fsdp-selective", selective)):
        runs[name] = tmp_path / name
        proc = subprocess.run(
            [*launcher, "-m", "electra.cli.main", *common(runs[name]), "--train.steps", "3", *extra],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=240,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert (" on cpu (FSDP) | " in proc.stdout) == name.startswith("fsdp"), proc.stdout[-2000:]
        assert (" | selective activation checkpointing | " in proc.stdout) == (name == "fsdp-selective")
    ddp = load_file(runs["ddp"] / "checkpoint-0000003" / "model.safetensors")
    fsdp = load_file(runs["fsdp"] / "checkpoint-0000003" / "model.safetensors")
    recomputed = load_file(runs["fsdp-selective"] / "checkpoint-0000003" / "model.safetensors")
    assert ddp.keys() == fsdp.keys() == recomputed.keys()
    for k in ddp:  # both accumulate two micro-batches per rank (no_sync / set_requires_gradient_sync)
        torch.testing.assert_close(fsdp[k], ddp[k], atol=1e-6, rtol=1e-5, msg=lambda m, k=k: f"{k}: {m}")
        torch.testing.assert_close(recomputed[k], ddp[k], atol=1e-6, rtol=1e-5, msg=lambda m, k=k: f"{k}: {m}")
    metrics = [read_metrics(runs[n] / "metrics.jsonl") for n in runs]
    assert [r["step"] for r in metrics[1]] == [1, 2, 3]
    for a, *others in zip(*metrics, strict=True):
        for b in others:
            assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)
            assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-5)
    # held-out evaluation at the checkpoint: FSDP's sharded forward gives DDP's figures
    assert metrics[1][2]["eval_loss"] == pytest.approx(metrics[0][2]["eval_loss"], rel=1e-5)
    assert metrics[1][2]["eval_disc_acc"] == pytest.approx(metrics[0][2]["eval_disc_acc"], rel=1e-5)
    state = torch.load(runs["fsdp"] / "checkpoint-0000003" / "trainer_state.pt", weights_only=True)
    assert all(isinstance(k, str) for k in state["optimizer"]["state"])  # keyed by name: any world size loads it

    monkeypatch.setenv("ELECTRA_CACHE", str(cache))
    assert cli_main([*common(runs["fsdp"]), "--train.steps", "4", "--resume"]) == 0
    state = torch.load(runs["fsdp"] / "checkpoint-0000004" / "trainer_state.pt", weights_only=True)
    assert {float(s["step"]) for s in state["optimizer"]["state"].values()} == {4.0}
    exp_avg = state["optimizer"]["state"]["discriminator.encoder.layers.0.attention.qkv.weight"]["exp_avg"]
    assert exp_avg.shape == fsdp["discriminator.encoder.layers.0.attention.qkv.weight"].shape  # unsharded
    after = load_file(runs["fsdp"] / "checkpoint-0000004" / "model.safetensors")
    assert any(not torch.equal(after[k], fsdp[k]) for k in fsdp)
