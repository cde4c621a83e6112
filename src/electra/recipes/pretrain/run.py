"""``electra pretrain``: ELECTRA (or a masked LM) on a corpus, on the shared training engine.

CPU or one GPU, data-parallel (DDP) or sharded (FSDP) under torchrun. Resume is exact: on CPU a run killed
at step k and resumed ends with the same weights as one that never stopped.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn
from tqdm.auto import tqdm

from electra.core import checkpoint as ckpt
from electra.core.atomic import write_text_atomic
from electra.core.config import flat_dict
from electra.core.errors import ElectraError
from electra.core.runtime import autocast, resolve_device
from electra.data.shards import RowSubset, batch_iterator, derive_inputs
from electra.models import CheckpointInfo, ElectraConfig, PretrainedModel, build_model, read_checkpoint
from electra.models.config import EncoderConfig, EncoderShape
from electra.recipes.pretrain import build
from electra.recipes.pretrain.config import ModelSection, PretrainConfig, config_from_dict
from electra.recipes.pretrain.data import PretrainData, load_data
from electra.recipes.pretrain.memory import check_step_memory
from electra.train import distributed as D
from electra.train.checkpoint import (
    checkpoint_to_resume,
    resumable_state,
    run_directory,
    save_training_checkpoint,
    seed_rank,
)
from electra.train.engine import Hook, Trainer, mean_over_ranks
from electra.train.hooks import Evaluate, Progress, SaveCheckpoints, TimeLimit
from electra.train.metrics import MetricsLogger, plot_curves
from electra.train.optim import build_adamw, load_state, param_groups, recipe_lr
from electra.train.parallel import Parallel, parallelize

# The metrics drawn in loss_curves.png and printed after a held-out evaluation.
HEADLINE = ("loss", "mlm_loss", "disc_loss", "main_loss", "gen_acc", "disc_acc", "main_acc")

# Settings that must not change when a run is resumed (they change the model or the data order).
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


def check_resume_config(cfg: PretrainConfig, saved: dict, path: Path) -> None:
    """Raise naming the first locked key whose value differs from the checkpoint's."""
    now, then = flat_dict(cfg), flat_dict(config_from_dict(saved))
    for key in sorted(now):
        locked = key in LOCKED_KEYS or f"{key.split('.')[0]}.*" in LOCKED_KEYS
        if locked and now[key] != then[key]:
            raise ElectraError(
                f"config does not match checkpoint {path}: {key} = {now[key]!r}, checkpoint has {then[key]!r}"
            )


def model_section(config: ElectraConfig | EncoderConfig, base: ModelSection | None = None) -> ModelSection:
    """The ``model`` section describing a pretraining model's config (an ELECTRA's, with its generator width,
    or a masked LM's)."""
    section = copy.deepcopy(base) if base is not None else ModelSection()
    encoder = config.discriminator if isinstance(config, ElectraConfig) else config
    for f in dataclasses.fields(EncoderShape):
        setattr(section, f.name, getattr(encoder, f.name))
    if isinstance(config, ElectraConfig):
        section.generator_multiplier = config.generator_multiplier
        section.embedding_sharing = config.embedding_sharing
    return section


def adopt_initial_model(cfg: PretrainConfig) -> tuple[PretrainConfig, CheckpointInfo | None]:
    """With ``train.init_from``: a copy of ``cfg`` whose model section is the checkpoint's, and the
    checkpoint; otherwise ``(cfg, None)``. One-line errors for checkpoints that cannot seed this run
    (fine-tuned, another objective, no tokenizer, or positions shorter than data.max_seq_length)."""
    if not cfg.train.init_from:
        return cfg, None
    key = "train.init_from"
    if cfg.data.modality != "text":
        raise ElectraError(f"{key} starts a text model from a checkpoint; data.modality {cfg.data.modality} trains "
                           "from scratch")  # fmt: skip
    try:
        init = read_checkpoint(Path(cfg.train.init_from), pretrained=True)
    except ElectraError as e:
        if "fine-tuned" in str(e):
            raise ElectraError(f"{key}: {cfg.train.init_from} is a fine-tuned checkpoint; start pretraining from "
                               "a pretrained one") from None  # fmt: skip
        raise ElectraError(f"{key}: {e}") from None
    if cfg.data.tokenizer:
        raise ElectraError(
            f"{key} brings its checkpoint's tokenizer: leave data.tokenizer unset (it is {cfg.data.tokenizer!r})"
        )
    if not (init.path / "tokenizer.json").is_file():
        raise ElectraError(f"{key}: checkpoint {init.path} has no tokenizer.json")
    kind = build.objective_kind(init.model_class, init.meta.get("model_config"))
    if kind != cfg.objective.kind:
        raise ElectraError(
            f"{key}: {init.path} was pretrained with objective.kind {kind!r}, this run uses {cfg.objective.kind!r}"
        )
    adopted = copy.deepcopy(cfg)
    adopted.model = model_section(init.model_class.config_class.from_dict(init.meta["model_config"]), cfg.model)
    if adopted.data.max_seq_length > adopted.model.max_position_embeddings:
        raise ElectraError(
            f"data.max_seq_length = {adopted.data.max_seq_length} exceeds the {adopted.model.max_position_embeddings} "
            f"positions of {key} checkpoint {init.path}"
        )
    return adopted, init


@dataclass
class Start:
    """Where a run starts: its (adjusted) config, the checkpoint it resumes (with its trainer state) or the one
    it is initialised from."""

    cfg: PretrainConfig
    resume: CheckpointInfo | None = None
    state: dict[str, Any] | None = None
    init: CheckpointInfo | None = None

    @property
    def source(self) -> CheckpointInfo | None:
        return self.resume or self.init


def starting_point(cfg: PretrainConfig, resume: bool) -> Start:
    """The checkpoint to resume (checked against ``cfg``'s locked keys) or to start from, or neither."""
    latest = checkpoint_to_resume(Path(cfg.train.output_dir), resume)
    if latest is None:
        cfg, init = adopt_initial_model(cfg)
        return Start(cfg, init=init)
    info = read_checkpoint(latest)
    if info.train_config is None:
        raise ElectraError(f"--resume: checkpoint {latest} has no training config ({ckpt.TRAIN_CONFIG})")
    if cfg.train.init_from:  # a resumed run started from train.init_from: its own checkpoint has that shape
        cfg = copy.deepcopy(cfg)
        cfg.model = config_from_dict(info.train_config).model
    check_resume_config(cfg, info.train_config, latest)
    return Start(cfg, resume=info, state=resumable_state(latest, cfg.train.steps))


def pretrain(cfg: PretrainConfig, resume: bool = False, progress: bool = True) -> dict[str, float]:
    """Pretrain per ``cfg``; returns the last logged metrics. See the README for the CLI.

    The run directory is locked for the run (rank 0 holds the lock under torchrun); what interrupted
    checkpoint writes left behind is removed first."""
    with run_directory(Path(cfg.train.output_dir)):
        return _pretrain(cfg, resume, progress)


def _pretrain(cfg: PretrainConfig, resume: bool, progress: bool) -> dict[str, float]:
    start = starting_point(cfg, resume)
    cfg, t = start.cfg, start.cfg.train
    device = resolve_device(t.device, "train.device")
    dist = D.init_distributed(device.type)
    device = D.rank_device(device, dist)
    if t.batch_size % (dist.world_size * t.grad_accum):
        raise ElectraError(
            f"train.batch_size = {t.batch_size} is not divisible by world size {dist.world_size} x "
            f"train.grad_accum {t.grad_accum}"
        )
    check_step_memory(cfg, t.batch_size // (dist.world_size * t.grad_accum), device)
    data = load_data(cfg, start.source.path / "tokenizer.json" if start.source else None, dist, progress)
    special = data.special_ids()
    trainer = _build_trainer(start, data, special, device, dist, progress)
    seed_rank(start.state, dist.rank, t.seed, trainer.step)
    last = trainer.fit(_batches(start, data, t.batch_size // dist.world_size, dist, device))
    stopped = trainer.step
    del trainer  # the DDP / FSDP wrappers go before the process group (see D.shutdown)
    if dist.is_main:
        out = Path(t.output_dir)
        png = plot_curves(out / "metrics.jsonl", out / "loss_curves.png", HEADLINE, f"{cfg.objective.kind} pretraining")
        if png and progress:
            tqdm.write(f"electra: checkpoints in {out}; loss curves in {png}")
        if stopped < t.steps and progress:
            tqdm.write(f"electra: stopped at step {stopped:,} of {t.steps:,} (train.max_minutes {t.max_minutes:g}); "
                       f"--resume trains on")  # fmt: skip
    D.shutdown(dist)
    return last


def _new_model(start: Start, data: PretrainData, special: dict[str, int]) -> PretrainedModel:
    """The model of a fresh run, or of a resumed one (then with the checkpoint's weights), seeded."""
    torch.manual_seed(start.cfg.train.seed)
    source = start.source
    if source is None:
        return build.build_model(start.cfg, data.table_size, special["pad"])
    # An imported model keeps its own (perhaps unpadded) vocabulary size, and so does a run started from one.
    model = source.build()
    ckpt.load_weights(model, source.path)
    return model


def _build_trainer(
    start: Start, data: PretrainData, special: dict[str, int], device: torch.device, dist: D.DistInfo, progress: bool
) -> Trainer:
    """Model, objective (wrapped for this process), optimiser (restored on resume) and hooks, in the engine."""
    cfg, t = start.cfg, start.cfg.train
    model = _new_model(start, data, special).to(device)
    objective = build.build_objective(model, cfg, special, data.vocab_size, data.never_mask()).to(device)
    parallel = parallelize(objective, model, model.parallel_blocks(), dist, device, fsdp=t.fsdp, compile=t.compile,
                           compile_mode=t.compile_mode, recompute=t.recompute)  # fmt: skip
    optimizer = build_adamw(param_groups(model, t.weight_decay), (t.adam_beta1, t.adam_beta2), t.adam_eps,
                            t.bias_correction, capturable=parallel.step_graph)  # fmt: skip
    step = 0
    if start.state is not None:
        load_state(optimizer, lambda: D.load_optimizer_state(model, optimizer, start.state["optimizer"]))
        step = int(start.state["step"])
    hooks = _hooks(start, data, model, objective, parallel.mode == "fsdp", special, device, dist, progress)
    if dist.is_main:
        _announce(start, data, model, device, parallel, dist)
    return Trainer(model=model, parallel=parallel, forward=objective_forward, optimizer=optimizer,
                   schedule=lambda s: recipe_lr(s, t.lr, t.warmup_steps, t.steps), total_steps=t.steps,
                   device=device, precision=t.precision, grad_accum=t.grad_accum, clip_norm=t.clip_norm,
                   dist=dist, hooks=hooks, batches_per_epoch=len(data.train) // t.batch_size, step=step,
                   max_skipped=t.skip_nonfinite_steps)  # fmt: skip


def _hooks(start: Start, data: PretrainData, model: PretrainedModel, objective: nn.Module, fsdp: bool,
           special: dict[str, int], device: torch.device, dist: D.DistInfo, progress: bool) -> list[Hook]:  # fmt: skip
    """Progress and metrics, held-out evaluation (when there is held-out data) and checkpoints."""
    cfg, t = start.cfg, start.cfg.train
    out = Path(t.output_dir)
    logger = MetricsLogger(out, t.tensorboard, enabled=dist.is_main)
    meta = {**model.checkpoint_config(special), "kind": "pretrained", **data.checkpoint_meta()}
    if start.init is not None:
        meta["initialised_from"] = str(start.init.path)
    files = data.checkpoint_files() if dist.is_main else {}

    def save(trainer: Trainer) -> Path | None:
        unsharded = (lambda: _unsharded_copy(model)) if fsdp else None
        # The replaced fraction of the last logged steps: what `electra detect` judges probabilities against.
        rate = {"base_rate": trainer.last["replaced_frac"]} if "replaced_frac" in trainer.last else {}
        return save_training_checkpoint(trainer, out, {**meta, **rate}, files, cfg.to_dict(), t.keep_checkpoints,
                                        unsharded)  # fmt: skip

    def evaluate(trainer: Trainer) -> dict[str, float]:
        return evaluate_held_out(objective, data.held_out, t.batch_size // dist.world_size, device, t.precision,
                                 t.seed, dist)  # fmt: skip

    hooks: list[Hook] = [TimeLimit(t.max_minutes, t.log_every)] if t.max_minutes > 0 else []
    hooks.append(Progress(logger, t.log_every, _postfix, enabled=progress and dist.is_main))
    if data.held_out is not None:
        hooks.append(Evaluate(evaluate, logger, every=t.eval_every or t.save_every,
                              report=_report_held_out if progress and dist.is_main else None))  # fmt: skip
    return [*hooks, SaveCheckpoints(save, t.save_every)]


def objective_forward(objective: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What a pretraining step computes on a batch: the objective's loss and metrics."""
    return objective(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])


def _postfix(values: dict[str, float]) -> dict[str, str]:
    if "loss" not in values:  # every step of the window was skipped as non-finite
        return {"skipped": f"{values.get('skipped_steps', 0):.0f}"}
    return {
        "loss": f"{values['loss']:.3f}",
        "gen_acc": f"{values.get('gen_acc', 0):.3f}",
        "disc_acc": f"{values['disc_acc']:.3f}" if "disc_acc" in values else "-",
        "tok_s": f"{values['tokens_per_s']:,.0f}",
    }


def _report_held_out(trainer: Trainer, values: dict[str, float]) -> None:
    shown = ", ".join(f"{k[5:]} {v:.4f}" for k, v in values.items() if k[5:] in HEADLINE)
    tqdm.write(f"step {trainer.step}: held-out {shown}")


def _announce(start: Start, data: PretrainData, model: nn.Module, device: torch.device, parallel: Parallel,
              dist: D.DistInfo) -> None:  # fmt: skip
    cfg = start.cfg
    out = Path(cfg.train.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    n_params = sum(p.numel() for p in model.parameters())
    recompute = cfg.train.recompute
    held = f"held-out evaluation on {len(data.held_out) * dist.world_size:,} | " if data.held_out is not None else ""
    tqdm.write(
        f"electra: {cfg.objective.kind} on {device}{' (FSDP)' if parallel.mode == 'fsdp' else ''}"
        f"{' | the whole step as one CUDA graph' if parallel.step_graph else ''}"
        f"{f' | {recompute} activation checkpointing' if recompute else ''} | "
        f"{n_params / 1e6:.2f}M parameters{f' from {start.init.path}' if start.init else ''} | "
        f"{len(data.train):,} training sequences of {data.train.max_seq_length} | {held}"
        f"vocab {data.vocab_size:,}"
    )


def _batches(start: Start, data: PretrainData, per_rank: int, dist: D.DistInfo, device: torch.device):
    """This rank's batches from the run's data position (the next batch after a resumed checkpoint's)."""
    t = start.cfg.train
    epoch, batch_index = 0, 0
    if start.state is not None:
        epoch, batch_index = int(start.state["epoch"]), int(start.state["batch_index"])
    batches_per_epoch = len(data.train) // t.batch_size
    if batches_per_epoch and batch_index >= batches_per_epoch:
        epoch, batch_index = epoch + 1, 0
    return batch_iterator(data.train, per_rank, t.seed, start_epoch=epoch, start_batch=batch_index, rank=dist.rank,
                          world_size=dist.world_size, num_workers=start.cfg.data.num_workers,
                          pin_memory=device.type == "cuda")  # fmt: skip


def _unsharded_copy(model: PretrainedModel) -> nn.Module | None:
    """On rank 0, a CPU model holding an FSDP model's full weights (for saving); None on other ranks.

    Every rank must call it (gathering the shards is a collective)."""
    full = D.full_model_state(model)
    if not full:
        return None
    clone = build_model(type(model).__name__, model.config.to_dict())
    clone.load_state_dict(full)  # tied tensors (the shared embeddings) arrive twice with equal values
    return clone


def evaluate_held_out(
    objective: nn.Module, data: RowSubset, batch_size: int, device: torch.device, precision: str, seed: int,
    dist: D.DistInfo,
) -> dict[str, float]:  # fmt: skip
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
                with autocast(device, precision):
                    result = objective_forward(objective, batch)
                for k, v in result.items():
                    sums[k] = sums.get(k, 0) + v.detach().float() * len(rows)
    finally:
        D.reshard(objective)
        objective.train(was_training)
    return mean_over_ranks(sums, len(data), dist, prefix="eval_")
