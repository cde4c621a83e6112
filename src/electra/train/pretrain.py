"""The pretraining loop: plain PyTorch, CPU or one GPU, data-parallel under torchrun."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn
from tqdm.auto import tqdm

from electra.config import PretrainConfig, config_from_dict
from electra.data import catalogue
from electra.data.corpus import SkipReport, find_input_files, iter_documents
from electra.data.prepare import PackingConfig, prepare_corpus
from electra.data.shards import RowSubset, TokenShards, batch_iterator, derive_inputs, holdout_split
from electra.data.tokenizer import load_tokenizer, save_tokenizer, special_token_ids, train_wordpiece
from electra.errors import ElectraError
from electra.models import TransformerEncoder
from electra.pretraining.builder import build_model, build_objective, padded_vocab_size, resolve_checkpoint
from electra.train import distributed as D
from electra.train.checkpoint import (
    FINETUNED,
    latest_checkpoint,
    load_trainer_state,
    load_weights,
    read_meta,
    save_checkpoint,
)
from electra.train.metrics import MetricsLogger, plot_curves
from electra.train.optim import build_adamw, recipe_lr, set_step_hyperparameters

# Settings that must not change when a run is resumed (they change the model or the data order).
# The metrics drawn in loss_curves.png and printed after a held-out evaluation.
_HEADLINE = ("loss", "mlm_loss", "disc_loss", "gen_acc", "disc_acc")

LOCKED_KEYS = (
    "model.*",
    "objective.*",
    "data.corpus",
    "data.tokenizer",
    "data.vocab_size",
    "data.lowercase",
    "data.max_seq_length",
    "data.doc_per_line",
    "data.eval_fraction",
    "train.batch_size",
    "train.seed",
)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ElectraError(f"train.device = {name!r} but CUDA is not available")
    return torch.device(name)


def autocast_context(device: torch.device, precision: str):
    """bf16 autocast on CUDA (``auto`` or ``bf16``); float32 everywhere else."""
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if use_bf16:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def resolve_corpus(entries: list[str]) -> list[Path]:
    """The text files of ``data.corpus``-style entries: catalogue names become cached files, the rest paths
    (no entries, no files)."""
    if not entries:
        return []
    paths: list[Path] = []
    for entry in entries:
        paths.append(catalogue.fetch(entry) if entry in catalogue.CATALOGUE else Path(entry))
    return find_input_files(paths)


def _fingerprint(files: list[Path], *extra: Any) -> str:
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def obtain_tokenizer(cfg: PretrainConfig, files: list[Path], cache: Path):
    """Load ``data.tokenizer``, or train a WordPiece vocabulary on the corpus (cached by content)."""
    if cfg.data.tokenizer:
        return load_tokenizer(Path(cfg.data.tokenizer))
    key = _fingerprint(files, cfg.data.vocab_size, cfg.data.lowercase, cfg.data.doc_per_line, cfg.data.text_field)
    target = cache / "tokenizers" / key
    if (target / "tokenizer.json").is_file():
        return load_tokenizer(target / "tokenizer.json")
    docs = iter_documents(files, cfg.data.doc_per_line, cfg.data.text_field, SkipReport())
    tok = train_wordpiece(docs, vocab_size=cfg.data.vocab_size, lowercase=cfg.data.lowercase)
    tmp = target.with_name(f".tmp-{key}")
    save_tokenizer(tok, tmp)
    tmp.replace(target) if not target.exists() else None
    return tok


def _flat(cfg_dict: dict) -> dict[str, Any]:
    return {f"{s}.{k}": v for s, sec in cfg_dict.items() for k, v in sec.items()}


def check_resume_config(cfg: PretrainConfig, saved: dict, ckpt: Path) -> None:
    """Raise naming the first locked key whose value differs from the checkpoint's."""
    now, then = _flat(cfg.to_dict()), _flat(saved)
    for key in sorted(now):
        locked = key in LOCKED_KEYS or f"{key.split('.')[0]}.*" in LOCKED_KEYS
        if locked and key in then and now[key] != then[key]:
            raise ElectraError(
                f"config does not match checkpoint {ckpt}: {key} = {now[key]!r}, checkpoint has {then[key]!r}"
            )


def _rng_state() -> dict[str, Any]:
    # Only torch's generators drive a step (dropout, masking, sampling); data order has its own seed.
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _rank_seed(seed: int, rank: int, step: int) -> int:
    """Seed of rank ``rank``'s torch generator when it starts (or joins a resumed run) at ``step``."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, np.uint64)[0] >> 1)


def _split(batch: dict[str, torch.Tensor], parts: int) -> list[dict[str, torch.Tensor]]:
    if parts == 1:
        return [batch]
    chunks = {k: v.chunk(parts) for k, v in batch.items()}
    return [{k: chunks[k][i] for k in batch} for i in range(parts)]


def adopt_initial_model(cfg: PretrainConfig) -> tuple[PretrainConfig, Path | None, dict[str, Any] | None]:
    """With ``train.init_from``: a copy of ``cfg`` whose model section is the checkpoint's, the checkpoint
    directory and its config.json; otherwise ``(cfg, None, None)``. One-line errors for checkpoints that
    cannot seed this run (fine-tuned, another objective, or positions shorter than data.max_seq_length)."""
    if not cfg.train.init_from:
        return cfg, None, None
    key = "train.init_from"
    path = resolve_checkpoint(Path(cfg.train.init_from), pretrained=True)
    meta = read_meta(path)
    if meta.get("kind") == FINETUNED:
        raise ElectraError(f"{key}: {path} is a fine-tuned checkpoint; start pretraining from a pretrained one")
    if cfg.data.tokenizer:
        raise ElectraError(
            f"{key} brings its checkpoint's tokenizer: leave data.tokenizer unset (it is {cfg.data.tokenizer!r})"
        )
    if not (path / "tokenizer.json").is_file():
        raise ElectraError(f"{key}: checkpoint {path} has no tokenizer.json")
    try:
        saved = config_from_dict(meta["config"])
        int(meta["vocab_size"])
    except KeyError as e:
        raise ElectraError(f"{key}: checkpoint config {path / 'config.json'} lacks key {e}") from None
    if saved.objective.kind != cfg.objective.kind:
        raise ElectraError(
            f"{key}: {path} was pretrained with objective.kind {saved.objective.kind!r}, this run uses "
            f"{cfg.objective.kind!r}"
        )
    adopted = copy.deepcopy(cfg)
    adopted.model = copy.deepcopy(saved.model)
    if adopted.data.max_seq_length > adopted.model.max_position_embeddings:
        raise ElectraError(
            f"data.max_seq_length = {adopted.data.max_seq_length} exceeds the {adopted.model.max_position_embeddings} "
            f"positions of {key} checkpoint {path}"
        )
    return adopted, path, meta


def _encoders(model: nn.Module) -> list[TransformerEncoder]:
    """The transformer encoders of a pretraining model (generator and discriminator, or the MLM's one)."""
    return [m for m in model.modules() if isinstance(m, TransformerEncoder)]


def _unsharded_copy(model: nn.Module, cfg: PretrainConfig, vocab_size: int, pad_id: int) -> nn.Module | None:
    """On rank 0, a CPU model holding an FSDP model's full weights (for saving); None on other ranks.

    Every rank must call it (gathering the shards is a collective)."""
    full = D.full_model_state(model)
    if not full:
        return None
    clone = build_model(cfg, vocab_size, pad_id)
    clone.load_state_dict(full)  # tied tensors (the shared embeddings) arrive twice with equal values
    return clone


def pretrain(cfg: PretrainConfig, resume: bool = False, progress: bool = True) -> dict[str, float]:
    """Pretrain per ``cfg``; returns the last logged metrics. See the README for the CLI."""
    out = Path(cfg.train.output_dir)
    ckpt = latest_checkpoint(out)
    if resume and ckpt is None:
        raise ElectraError(f"--resume: no checkpoint in {out}")
    if not resume and ckpt is not None:
        raise ElectraError(f"{out} already holds checkpoints; pass --resume or choose another --train.output_dir")
    meta = read_meta(ckpt) if ckpt else None
    init, init_meta = None, None
    if cfg.train.init_from and meta:
        # A resumed run started from train.init_from: its own checkpoint has that model shape.
        cfg = copy.deepcopy(cfg)
        cfg.model = config_from_dict(meta["config"]).model
    elif cfg.train.init_from:
        cfg, init, init_meta = adopt_initial_model(cfg)
    device = resolve_device(cfg.train.device)
    dist = D.init_distributed(device.type)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    t = cfg.train
    if meta:
        check_resume_config(cfg, meta["config"], ckpt)
    if t.batch_size % (dist.world_size * t.grad_accum):
        raise ElectraError(
            f"train.batch_size = {t.batch_size} is not divisible by world size {dist.world_size} x "
            f"train.grad_accum {t.grad_accum}"
        )

    cache = Path(cfg.data.cache_dir) if cfg.data.cache_dir else catalogue.cache_dir()
    # Rank 0 downloads the corpus and trains the tokenizer; the others wait, then use its tokenizer
    # (WordPiece training is not deterministic, so ranks training their own would disagree on ids).
    tokenizer_json = None
    if dist.is_main:
        files, eval_files = resolve_corpus(cfg.data.corpus), resolve_corpus(cfg.data.eval_corpus)
        if ckpt or init:
            tokenizer = load_tokenizer((ckpt or init) / "tokenizer.json")
        else:
            tokenizer = obtain_tokenizer(cfg, files, cache)
        tokenizer_json = tokenizer.to_str()
    tokenizer_json = D.broadcast_object(tokenizer_json, dist)
    if not dist.is_main:
        files, eval_files = resolve_corpus(cfg.data.corpus), resolve_corpus(cfg.data.eval_corpus)
        tokenizer = Tokenizer.from_str(tokenizer_json)
    special = special_token_ids(tokenizer)
    packing = PackingConfig(
        max_seq_length=cfg.data.max_seq_length,
        short_seq_prob=cfg.data.short_seq_prob,
        single_segment_prob=cfg.data.single_segment_prob,
        seed=t.seed,
        shard_size=cfg.data.shard_size,
        doc_per_line=cfg.data.doc_per_line,
        text_field=cfg.data.text_field,
    )
    if dist.is_main:
        shard_dir = prepare_corpus(files, tokenizer, cache / "prepared", packing, progress=progress)
        eval_dir = _prepare_eval_corpus(eval_files, tokenizer, cache, packing, progress)
    D.barrier(dist)
    if not dist.is_main:
        shard_dir = prepare_corpus(files, tokenizer, cache / "prepared", packing, progress=False)
        eval_dir = _prepare_eval_corpus(eval_files, tokenizer, cache, packing, False)
    shards, eval_data = split_held_out(TokenShards(shard_dir), eval_dir, cfg, dist)

    # An imported model keeps its own (perhaps unpadded) vocabulary size, and so does a run started from one.
    given = meta or init_meta
    vocab_size = int(given["vocab_size"]) if given else padded_vocab_size(tokenizer.get_vocab_size())
    torch.manual_seed(t.seed)
    model = build_model(cfg, vocab_size, special["pad"]).to(device)
    objective = build_objective(model, cfg, special).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    step, epoch, batch_index = 0, 0, 0
    state = None
    if ckpt:
        load_weights(model, ckpt)  # before sharding: every rank loads the whole model
        state = load_trainer_state(ckpt)
        step, epoch, batch_index = int(state["step"]), int(state["epoch"]), int(state["batch_index"])
    elif init:
        load_weights(model, init)
    fsdp = dist.enabled and t.fsdp
    if fsdp:
        D.apply_fsdp(objective, [layer for enc in _encoders(model) for layer in enc.layers])
    optimizer = build_adamw(model, t.weight_decay, (t.adam_beta1, t.adam_beta2), t.adam_eps)
    if state is not None:
        D.load_optimizer_state(model, optimizer, state["optimizer"])
    if dist.rank > 0:
        # Every rank built the same weights from the same seed; from here on each rank needs its own
        # stream for masking, sampling and dropout (rank 0 keeps the single-process one).
        torch.manual_seed(_rank_seed(t.seed, dist.rank, step))

    runner: nn.Module = objective
    if t.compile:
        runner = torch.compile(runner, mode=t.compile_mode)
    if dist.enabled and not fsdp:
        runner = nn.parallel.DistributedDataParallel(
            runner, device_ids=[device.index] if device.type == "cuda" else None
        )

    per_rank = t.batch_size // dist.world_size
    batches_per_epoch = len(shards) // t.batch_size
    eval_every = t.eval_every or t.save_every
    if batches_per_epoch and batch_index >= batches_per_epoch:
        epoch, batch_index = epoch + 1, 0
    batches = batch_iterator(
        shards,
        per_rank,
        t.seed,
        start_epoch=epoch,
        start_batch=batch_index,
        rank=dist.rank,
        world_size=dist.world_size,
        num_workers=cfg.data.num_workers,
        pin_memory=device.type == "cuda",
    )
    if state is not None:
        saved = state.get("rng_per_rank") or [state["rng"]]
        if dist.rank < len(saved):  # a rank that did not exist when the checkpoint was written keeps its seed
            _set_rng_state(saved[dist.rank])

    tok_files = {}
    if dist.is_main:
        tok_files = {"tokenizer.json": tokenizer.to_str(pretty=True)}
        vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
        tok_files["vocab.txt"] = "".join(f"{w}\n" for w, _ in vocab)
    meta_out = {"config": cfg.to_dict(), "vocab_size": vocab_size, "special_ids": special}
    logger = MetricsLogger(out, t.tensorboard, enabled=dist.is_main)
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(_yaml_dump(cfg.to_dict()))
        tqdm.write(
            f"electra: {cfg.objective.kind} on {device}{' (FSDP)' if fsdp else ''} | "
            f"{n_params / 1e6:.2f}M parameters{f' from {init}' if init else ''} | "
            f"{len(shards):,} training sequences of {shards.max_seq_length} | "
            f"{f'held-out evaluation on {len(eval_data) * dist.world_size:,} | ' if eval_data is not None else ''}"
            f"vocab {tokenizer.get_vocab_size():,}"
        )

    bar = tqdm(total=t.steps, initial=step, disable=not (progress and dist.is_main), unit="step", dynamic_ncols=True)
    sums: dict[str, torch.Tensor] = {}
    tokens = torch.zeros((), device=device)
    count, last = 0, {}
    t_log = time.perf_counter()
    runner.train()
    try:
        while step < t.steps:
            lr = recipe_lr(step, t.lr, t.warmup_steps, t.steps)
            set_step_hyperparameters(optimizer, lr, step, t.bias_correction)
            epoch, batch_index, batch = next(batches)
            if t.compile and t.compile_mode == "reduce-overhead":
                torch.compiler.cudagraph_mark_step_begin()
            micro = _split({k: v.to(device, non_blocking=True) for k, v in batch.items()}, t.grad_accum)
            for i, mb in enumerate(micro):
                sync = contextlib.nullcontext()
                if fsdp:  # reduce-scatter gradients only after the last micro-batch
                    objective.set_requires_gradient_sync(i == len(micro) - 1)
                elif dist.enabled and i < len(micro) - 1:
                    sync = runner.no_sync()
                with sync, autocast_context(device, t.precision):
                    result = runner(mb["input_ids"], mb["attention_mask"], mb["token_type_ids"])
                    (result["loss"] / t.grad_accum).backward()
                for k, v in result.items():
                    sums[k] = sums.get(k, 0) + v.detach().float()
                tokens += mb["attention_mask"].sum()
                count += 1
            if t.clip_norm > 0:
                gnorm = D.local_value(torch.nn.utils.clip_grad_norm_(model.parameters(), t.clip_norm))
                sums["grad_norm"] = sums.get("grad_norm", 0) + gnorm.detach().float() * t.grad_accum
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            bar.update(1)
            if step % t.log_every == 0 or step == t.steps:
                elapsed = time.perf_counter() - t_log
                tok = float(D.all_reduce_mean(tokens, dist)) * dist.world_size
                last = _mean_over_ranks(sums, count, dist)
                last.update(lr=lr, tokens_per_s=round(tok / elapsed, 1), epoch=epoch)
                logger.log(step, last)
                bar.set_postfix(
                    loss=f"{last['loss']:.3f}",
                    gen_acc=f"{last.get('gen_acc', 0):.3f}",
                    disc_acc=f"{last.get('disc_acc', 0):.3f}" if "disc_acc" in last else "-",
                    tok_s=f"{last['tokens_per_s']:,.0f}",
                )
                sums, count = {}, 0
                tokens.zero_()
                t_log = time.perf_counter()
            if eval_data is not None and (step % eval_every == 0 or step == t.steps):
                held = evaluate(objective, eval_data, per_rank, device, t.precision, t.seed, dist)
                logger.log(step, held)
                last.update(held)
                if dist.is_main and progress:
                    tqdm.write(f"step {step}: held-out " + ", ".join(
                        f"{k[5:]} {v:.4f}" for k, v in held.items() if k[5:] in _HEADLINE))
            if step % t.save_every == 0 or step == t.steps:
                next_epoch, next_batch = epoch, batch_index + 1
                rng_per_rank = D.all_gather_object(_rng_state(), dist)
                # Under FSDP gathering the state is a collective (every rank); otherwise rank 0's is enough.
                optimizer_state = D.optimizer_state(model, optimizer) if fsdp or dist.is_main else None
                weights = _unsharded_copy(model, cfg, vocab_size, special["pad"]) if fsdp else model
                if dist.is_main:
                    trainer_state = {
                        "optimizer": optimizer_state,
                        "step": step,
                        "epoch": next_epoch,
                        "batch_index": next_batch,
                        "rng": rng_per_rank[0],
                        "rng_per_rank": rng_per_rank,
                    }
                    save_checkpoint(out, step, weights, meta_out, tok_files, trainer_state, t.keep_checkpoints)
                D.barrier(dist)
    finally:
        bar.close()
        logger.close()
    if dist.is_main:
        title = f"{cfg.objective.kind} pretraining"
        png = plot_curves(out / "metrics.jsonl", out / "loss_curves.png", _HEADLINE, title)
        if png and progress:
            tqdm.write(f"electra: checkpoints in {out}; loss curves in {png}")
    D.shutdown(dist)
    return last


def _prepare_eval_corpus(
    files: list[Path], tokenizer: Tokenizer, cache: Path, packing: PackingConfig, progress: bool
) -> Path | None:
    """Prepared shards of ``data.eval_corpus`` (None without one); its errors name the key."""
    if not files:
        return None
    try:
        return prepare_corpus(files, tokenizer, cache / "prepared", packing, progress=progress)
    except ElectraError as e:
        raise ElectraError(f"data.eval_corpus: {e}") from None


def split_held_out(
    shards: TokenShards, eval_dir: Path | None, cfg: PretrainConfig, dist: D.DistInfo
) -> tuple[TokenShards | RowSubset, RowSubset | None]:
    """The training rows, and this rank's held-out rows (``None`` without held-out evaluation).

    ``data.eval_fraction`` keeps whole runs of the corpus' sequences out of training (see
    :func:`holdout_split`); ``data.eval_corpus`` is separate text. At most ``train.eval_sequences`` held-out
    sequences are used, the same on every call, split evenly over the ranks (FSDP needs equal counts)."""
    seed = cfg.train.seed
    if cfg.data.eval_fraction:
        train_rows, held_rows = holdout_split(len(shards), cfg.data.eval_fraction, seed)
        held: TokenShards | RowSubset = RowSubset(shards, held_rows)
        shards = RowSubset(shards, train_rows)
    elif eval_dir is not None:
        held = TokenShards(eval_dir)
    else:
        return shards, None
    rows = np.arange(len(held), dtype=np.int64)
    if len(rows) > cfg.train.eval_sequences:
        rows = np.sort(np.random.default_rng([seed, 0xE7A1]).choice(rows, cfg.train.eval_sequences, replace=False))
    rows = rows[: len(rows) - len(rows) % dist.world_size]
    if not len(rows):
        raise ElectraError(f"held-out data has fewer sequences ({len(held)}) than processes ({dist.world_size})")
    return shards, RowSubset(held, rows[dist.rank :: dist.world_size])


def evaluate(
    objective: nn.Module, data: RowSubset, batch_size: int, device: torch.device, precision: str, seed: int,
    dist: D.DistInfo,
) -> dict[str, float]:
    """The objective's metrics on held-out rows (prefixed ``eval_``), averaged over rows and ranks.

    Dropout is off and masks and samples come from a fixed seed, so every call sees the same masked
    positions; the global RNG and the training mode are left as they were, so training is unaffected."""
    was_training = objective.training
    objective.eval()
    sums: dict[str, torch.Tensor] = {}
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(seed + 7919)
            for start in range(0, len(data), batch_size):
                rows = data[np.arange(start, min(start + batch_size, len(data)))]
                batch = derive_inputs(torch.from_numpy(rows.astype(np.int64)), data.sep_id, data.pad_id)
                batch = {k: v.to(device) for k, v in batch.items()}
                with autocast_context(device, precision):
                    result = objective(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
                for k, v in result.items():
                    sums[k] = sums.get(k, 0) + v.detach().float() * len(rows)
    finally:
        D.reshard(objective)
        objective.train(was_training)
    return _mean_over_ranks(sums, len(data), dist, prefix="eval_")


def _mean_over_ranks(sums: dict[str, torch.Tensor], count: int, dist: D.DistInfo, prefix: str = "") -> dict[str, float]:
    """``sums / count`` averaged over ranks (one all-reduce for all metrics), as rounded floats."""
    keys = sorted(sums)
    means = D.all_reduce_mean(torch.stack([sums[k] for k in keys]) / count, dist)
    return {f"{prefix}{k}": round(float(v), 5) for k, v in zip(keys, means.tolist())}


def _yaml_dump(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)
