"""``electra seq2seq train`` on the shared engine, and translation / scoring of a trained model.

Training: label-smoothed cross-entropy, Adam (0.9, 0.98) with the inverse-square-root schedule, token-budget
batches, checkpoints every ``train.save_every`` steps with the dev set's loss and BLEU / chrF (greedy or
beam search on ``train.eval_sentences`` dev pairs, sacrebleu on detokenised text), exact resume, progress,
metrics JSONL, TensorBoard and a loss PNG as pretraining has them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm.auto import tqdm

from electra.core import checkpoint as ckpt
from electra.core.atomic import write_text_atomic
from electra.core.config import flat_dict
from electra.core.errors import ElectraError
from electra.core.runtime import autocast, hardware, resolve_device
from electra.data.parallel import Pair
from electra.data.tokenizer import load_tokenizer
from electra.generation.seq2seq import beam_search, greedy_decode
from electra.models import TransformerSeq2Seq, load_checkpoint
from electra.objectives.translation import label_smoothed_nll
from electra.recipes.seq2seq import data as D
from electra.recipes.seq2seq.config import Seq2SeqTrainConfig, config_from_dict
from electra.train import distributed as dist_mod
from electra.train.checkpoint import (
    checkpoint_to_resume,
    resumable_state,
    run_directory,
    save_training_checkpoint,
    seed_rank,
)
from electra.train.engine import Trainer
from electra.train.hooks import Evaluate, Progress, SaveCheckpoints, TimeLimit
from electra.train.metrics import MetricsLogger, plot_curves
from electra.train.optim import build_adamw, inverse_sqrt_lr, load_state, param_groups
from electra.train.parallel import parallelize

LOCKED = ("model.", "data.corpus", "data.tokenizer", "data.vocab_size", "data.max_length", "data.max_ratio",
          "data.max_tokens", "train.seed")  # fmt: skip
HEADLINE = ("loss", "nll", "eval_bleu")


def translation_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor], epsilon: float,
                     dist: dist_mod.DistInfo | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
    """What a training step computes: the label-smoothed loss and the plain NLL per target token. Under
    torchrun each rank's mean is weighted by its share of the global batch's tokens (one all-reduce of a
    count), so that DDP's average over ranks is the global batch's mean per token, as in one process."""
    logits = model(batch["src_ids"], batch["src_mask"], batch["tgt_in"])
    loss, nll = label_smoothed_nll(logits, batch["tgt_out"], epsilon, ignore_index=D.PAD)
    if dist is not None and dist.enabled:
        tokens = (batch["tgt_out"] != D.PAD).sum().float()
        share = tokens / dist_mod.all_reduce_mean(tokens, dist).clamp_min(1.0)
        loss, nll = loss * share, nll * share
    return {"loss": loss, "nll": nll}


@dataclass
class Scores:
    """BLEU and chrF of a set of translations, with sacrebleu's signatures."""

    bleu: float
    chrf: float
    signature: str
    length_ratio: float = 1.0  # hypothesis over reference length, in BLEU's tokens (BLEU's brevity penalty below 1)


def score(hypotheses: list[str], references: list[str]) -> Scores:
    """Corpus BLEU and chrF (sacrebleu, default tokenisation) of detokenised ``hypotheses``."""
    import sacrebleu

    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    b, c = bleu.corpus_score(hypotheses, [references]), chrf.corpus_score(hypotheses, [references])
    ratio = b.sys_len / b.ref_len if b.ref_len else 0.0
    return Scores(b.score, c.score, f"{bleu.get_signature()} | {chrf.get_signature()}", ratio)


@torch.no_grad()
def translate(model: TransformerSeq2Seq, vocab: D.Vocabularies, sentences: list[str], beam: int = 4,
              batch_size: int = 32, length_penalty: float = 1.0, max_len_a: float = 1.2,
              max_len_b: int = 10) -> list[str]:  # fmt: skip
    """Detokenised translations of ``sentences`` (greedy for ``beam`` 1), in order. Sentences are batched by
    length; an empty one translates to ""; sources longer than the model's positions are cut to fit, with a
    warning on standard error saying how many."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    limit = model.config.max_positions - 1
    enc = D.encode_pairs(vocab, [(s, "") for s in sentences], limit, None)
    if enc.cut:
        tqdm.write(f"electra: warning: {enc.cut} sentence(s) longer than {limit - 1} tokens were cut to fit the "
                   "model", file=sys.stderr)  # fmt: skip
    order = sorted((i for i, s in enumerate(sentences) if s.strip()), key=lambda i: len(enc.src[i]))
    out = [""] * len(sentences)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = D.collate(enc, rows)
        src, mask = batch["src_ids"].to(device), batch["src_mask"].to(device)
        if beam == 1:
            hyps = greedy_decode(model, src, mask, D.BOS, D.EOS, max_len_a, max_len_b)
        else:
            hyps = beam_search(model, src, mask, D.BOS, D.EOS, beam, length_penalty, max_len_a, max_len_b)
        for row, hyp in zip(rows, hyps):
            out[row] = vocab.target.decode(hyp.tokens)
    model.train(was_training)
    return out


def _evaluate(model: TransformerSeq2Seq, vocab: D.Vocabularies, valid: D.Encoded, valid_text: list[Pair],
              cfg: Seq2SeqTrainConfig, device: torch.device) -> dict[str, float]:  # fmt: skip
    """Dev loss / NLL over every dev pair (no dropout) and BLEU / chrF of ``train.eval_sentences`` of them."""
    t = cfg.train
    was_training = model.training
    model.eval()
    sums, count = {"loss": 0.0, "nll": 0.0}, 0
    with torch.no_grad():
        for rows in D.token_budget_batches(valid.lengths, cfg.data.max_tokens):
            batch = {k: v.to(device) for k, v in D.collate(valid, rows).items()}
            with autocast(device, t.precision):
                out = translation_loss(model, batch, t.label_smoothing)
            n = int(batch["attention_mask"].sum())
            sums = {k: sums[k] + float(out[k]) * n for k in sums}
            count += n
    sample = valid_text[: t.eval_sentences]
    hyps = translate(model, vocab, [s for s, _ in sample], t.beam, 32, t.length_penalty, t.max_len_a, t.max_len_b)
    scores = score(hyps, [r for _, r in sample])
    model.train(was_training)
    return {"eval_loss": sums["loss"] / count, "eval_nll": sums["nll"] / count, "eval_bleu": scores.bleu,
            "eval_chrf": scores.chrf}  # fmt: skip


def _starting_point(cfg: Seq2SeqTrainConfig, resume: bool) -> tuple[Path | None, dict[str, Any] | None]:
    latest = checkpoint_to_resume(Path(cfg.train.output_dir), resume)
    if latest is None:
        return None, None
    saved = load_checkpoint(latest, pretrained=True).train_config
    if saved is None:
        raise ElectraError(f"--resume: checkpoint {latest} has no training config")
    now, then = flat_dict(cfg), flat_dict(config_from_dict(saved))
    for key in sorted(now):
        if key.startswith(LOCKED) and now[key] != then[key]:
            raise ElectraError(f"config does not match checkpoint {latest}: {key} = {now[key]!r}, "
                               f"checkpoint has {then[key]!r}")  # fmt: skip
    return latest, resumable_state(latest, cfg.train.steps)


def train(cfg: Seq2SeqTrainConfig, resume: bool = False, progress: bool = True) -> dict[str, float]:
    """Train per ``cfg``; returns the last logged metrics. The run directory is locked while it runs."""
    with run_directory(Path(cfg.train.output_dir)):
        return _train(cfg, resume, progress)


def _prepare(cfg: Seq2SeqTrainConfig, latest: Path | None, progress: bool, dist: dist_mod.DistInfo):
    """Pairs read and encoded, with the run's vocabularies (a checkpoint's, the given tokenizer, or trained on
    the training pairs: by rank 0 alone under torchrun, its files sent to the other ranks)."""
    d = cfg.data
    sources = D.pair_sources(d.corpus)
    train_text = D.read_split(sources["train"], "training pairs")
    if latest is not None:
        vocab = load_vocabularies(latest)
    elif d.tokenizer:
        tok = D.check_translation_tokenizer(load_tokenizer(Path(d.tokenizer)), d.tokenizer)
        vocab = D.Vocabularies(tok, tok)
    else:
        files = None
        if dist.is_main:
            files = D.Vocabularies.train(train_text, d.vocab_size, d.tokenizer_kind, d.joint_vocabulary).files()
        vocab = D.Vocabularies.from_files(dist_mod.broadcast_object(files, dist))
    train_data = D.encode_pairs(vocab, train_text, d.max_length, d.max_ratio)
    valid_paths = [Path(p) for p in d.valid] or sources.get("dev")
    valid_text = D.read_split(valid_paths, "validation pairs") if valid_paths else []
    valid = D.encode_pairs(vocab, valid_text, cfg.model.max_positions - 1, None) if valid_text else None
    if progress and dist.is_main:
        tqdm.write(f"electra: {len(train_data):,} training pairs ({train_data.dropped:,} longer than "
                   f"{d.max_length} tokens or a {d.max_ratio:g}:1 ratio left out), {len(valid_text):,} dev pairs, "
                   f"vocabulary {_sizes(vocab)}")  # fmt: skip
    return vocab, train_data, valid, valid_text


def _sizes(vocab: D.Vocabularies) -> str:
    if vocab.joint:
        return f"{vocab.source.get_vocab_size():,} (joint)"
    return f"{vocab.source.get_vocab_size():,} source, {vocab.target.get_vocab_size():,} target"


def load_vocabularies(checkpoint: Path) -> D.Vocabularies:
    """A checkpoint's tokenizers: ``tokenizer.json`` and, for separate vocabularies, the target's."""
    source = D.check_translation_tokenizer(load_tokenizer(checkpoint / "tokenizer.json"), str(checkpoint))
    target_file = checkpoint / D.TARGET_TOKENIZER
    if not target_file.is_file():
        return D.Vocabularies(source, source)
    return D.Vocabularies(source, D.check_translation_tokenizer(load_tokenizer(target_file), str(target_file)))


def _train(cfg: Seq2SeqTrainConfig, resume: bool, progress: bool) -> dict[str, float]:
    t = cfg.train
    latest, state = _starting_point(cfg, resume)
    device = resolve_device(t.device, "train.device")
    dist = dist_mod.init_distributed(device.type)
    device = dist_mod.rank_device(device, dist)
    vocab, train_data, valid, valid_text = _prepare(cfg, latest, progress, dist)
    torch.manual_seed(t.seed)
    tgt_size = None if vocab.joint else vocab.target.get_vocab_size()
    model = TransformerSeq2Seq(cfg.model.model_config(vocab.source.get_vocab_size(), D.PAD, tgt_size))
    if latest is not None:
        ckpt.load_weights(model, latest)
    model.to(device)
    parallel = parallelize(model, model, model.parallel_blocks(), dist, device)
    optimizer = build_adamw(param_groups(model, t.weight_decay), (t.adam_beta1, t.adam_beta2), t.adam_eps,
                            bias_correction=True)  # fmt: skip
    step = int(state["step"]) if state else 0
    if state is not None:
        load_state(optimizer, lambda: dist_mod.load_optimizer_state(model, optimizer, state["optimizer"]))
    out = Path(t.output_dir)
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    trainer = Trainer(model=model, parallel=parallel, optimizer=optimizer,
                      forward=lambda m, b: translation_loss(m, b, t.label_smoothing, dist),
                      schedule=lambda s: inverse_sqrt_lr(s, t.lr, t.warmup_steps),
                      total_steps=t.steps, device=device, precision=t.precision, clip_norm=t.clip_norm, dist=dist,
                      hooks=_hooks(cfg, model, vocab, valid, valid_text, device, progress, dist),
                      batches_per_epoch=len(D.token_budget_batches(train_data.lengths, cfg.data.max_tokens, t.seed)),
                      step=step)  # fmt: skip
    seed_rank(state, dist.rank, t.seed, step)
    if progress and dist.is_main:
        n_params = sum(p.numel() for p in model.parameters())
        ranks = f" x {dist.world_size} processes (DDP)" if dist.enabled else ""
        tqdm.write(f"electra: seq2seq on {hardware(device)}{ranks} | {n_params / 1e6:.2f}M parameters | "
                   f"{t.steps:,} steps")  # fmt: skip
    epoch, batch = (int(state["epoch"]), int(state["batch_index"])) if state else (0, 0)
    last = trainer.fit(D.batch_stream(train_data, cfg.data.max_tokens, t.seed, device, epoch, batch, dist.rank,
                                      dist.world_size))  # fmt: skip
    del trainer, parallel  # the DDP wrapper goes before the process group (see distributed.shutdown)
    if dist.is_main:
        png = plot_curves(out / "metrics.jsonl", out / "loss_curves.png", HEADLINE, "translation training")
        if png and progress:
            tqdm.write(f"electra: checkpoints in {out}; loss curves in {png}")
    dist_mod.shutdown(dist)
    return last


def _hooks(cfg: Seq2SeqTrainConfig, model: TransformerSeq2Seq, vocab: D.Vocabularies, valid: D.Encoded | None,
           valid_text: list[Pair], device: torch.device, progress: bool, dist: dist_mod.DistInfo) -> list:  # fmt: skip
    """Progress and metrics, dev evaluation (rank 0 alone: the other ranks wait at the next step) and
    checkpoints (every rank takes part; rank 0 writes)."""
    t = cfg.train
    out = Path(t.output_dir)
    logger = MetricsLogger(out, t.tensorboard, enabled=dist.is_main)
    progress = progress and dist.is_main
    meta = {**model.checkpoint_config(), "kind": "seq2seq"}

    def save(trainer: Trainer) -> Path | None:
        return save_training_checkpoint(trainer, out, meta, vocab.files(), cfg.to_dict(), t.keep_checkpoints)

    def report(trainer: Trainer, values: dict[str, float]) -> None:
        tqdm.write(f"step {trainer.step}: dev loss {values['eval_loss']:.3f}, BLEU {values['eval_bleu']:.2f}, "
                   f"chrF {values['eval_chrf']:.2f}")  # fmt: skip

    def postfix(values: dict[str, float]) -> dict[str, str]:
        return {"loss": f"{values.get('loss', float('nan')):.3f}", "tok_s": f"{values['tokens_per_s']:,.0f}"}

    hooks: list = [TimeLimit(t.max_minutes, t.log_every)] if t.max_minutes > 0 else []
    hooks.append(Progress(logger, t.log_every, postfix, enabled=progress))
    if valid is not None and dist.is_main:
        hooks.append(Evaluate(lambda tr: _evaluate(model, vocab, valid, valid_text, cfg, device), logger,
                              every=t.save_every, report=report if progress else None))  # fmt: skip
    return [*hooks, SaveCheckpoints(save, t.save_every)]


@dataclass
class Loaded:
    """A trained translation checkpoint: the model, its tokenizers and its training configuration."""

    path: Path
    model: TransformerSeq2Seq
    vocab: D.Vocabularies
    cfg: Seq2SeqTrainConfig


def load_translator(path: Path | str, device: str = "auto", average_last: int = 1) -> Loaded:
    """The translation model of checkpoint (or run directory) ``path``; a one-line error for another kind.
    ``average_last`` K > 1 (a run directory): the mean of the weights of its newest K checkpoints."""
    loaded = load_checkpoint(Path(path), resolve_device(device))
    if not isinstance(loaded.model, TransformerSeq2Seq):
        raise ElectraError(f"{loaded.path} holds a {type(loaded.model).__name__}, not a translation model "
                           "(train one with `electra seq2seq train`)")  # fmt: skip
    if loaded.tokenizer is None:
        raise ElectraError(f"{loaded.path} has no tokenizer.json")
    vocab = load_vocabularies(loaded.path)
    if average_last > 1:
        average_checkpoints(loaded.model, ckpt.checkpoint_dirs(Path(path))[-average_last:], average_last, path)
    cfg = config_from_dict(loaded.train_config) if loaded.train_config else Seq2SeqTrainConfig()
    return Loaded(loaded.path, loaded.model, vocab, cfg)


def average_checkpoints(model: torch.nn.Module, paths: list[Path], wanted: int, run_dir: Path | str) -> None:
    """Load into ``model`` the element-wise mean of the weights of checkpoints ``paths`` (the Transformer
    paper averages the last 5 or 20); a one-line error when the run holds fewer than ``wanted``."""
    if len(paths) < wanted:
        raise ElectraError(f"--average-last {wanted}: {run_dir} holds {len(paths)} checkpoint(s)")
    total: dict[str, torch.Tensor] = {}
    for path in paths:
        ckpt.load_weights(model, path)
        for name, value in model.state_dict().items():
            if value.is_floating_point():
                total[name] = total[name] + value.float() if name in total else value.float().clone()
    with torch.no_grad():
        state = model.state_dict()
        for name, value in total.items():
            state[name].copy_(value / len(paths))


def translate_with(loaded: Loaded, sentences: list[str], batch_size: int = 32) -> list[str]:
    """:func:`translate` with the decoding settings of ``loaded.cfg.train`` (beam, length penalty, length limit:
    the run's, or what the command line put there)."""
    t = loaded.cfg.train
    return translate(loaded.model, loaded.vocab, sentences, t.beam, batch_size, t.length_penalty, t.max_len_a,
                     t.max_len_b)  # fmt: skip


def evaluate_translation(loaded: Loaded, pairs: list[Pair], batch_size: int = 32) -> tuple[Scores, list[str]]:
    """BLEU / chrF of ``loaded``'s translations of ``pairs`` (decoded as :func:`translate_with` does)."""
    hyps = translate_with(loaded, [s for s, _ in pairs], batch_size)
    return score(hyps, [r for _, r in pairs]), hyps
