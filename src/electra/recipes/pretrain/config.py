"""Pretraining configuration: dataclass sections, YAML presets, ``--section.key value`` overrides.

Precedence: dataclass defaults < preset file < user YAML < command-line overrides (the mechanism of
:mod:`electra.core.config`). Unknown keys are errors that name the key and suggest the nearest valid one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from electra.core.config import apply, check_ranges, parse_overrides, suggest
from electra.core.errors import ElectraError
from electra.core.files import read_yaml
from electra.models.config import EMBEDDING_SHARING, EncoderConfig, EncoderShape
from electra.objectives.config import (
    DISC_LABELS,
    DISC_POSITIONS,
    GENERATOR_TRAINING,
    KINDS,
    MASK_SCHEDULES,
    ObjectiveConfig,
)
from electra.train.parallel import COMPILE_MODES


@dataclass
class ModelSection(EncoderShape):
    """The discriminator's shape (the generator is derived from it) or the MLM model's shape.

    The vocabulary size and padding id are not set here: they come from the tokenizer.
    """

    generator_multiplier: float = 0.25
    embedding_sharing: str = "tied"  # tied (the paper), separate, or gdes (DeBERTa-v3)

    def encoder(self, vocab_size: int, pad_token_id: int = 0) -> EncoderConfig:
        """The encoder config with the tokenizer's vocabulary size and [PAD] id filled in."""
        shape = {f.name: getattr(self, f.name) for f in dataclasses.fields(EncoderShape)}
        return EncoderConfig(vocab_size=vocab_size, pad_token_id=pad_token_id, **shape)


@dataclass
class DataSection:
    """Where the text comes from and how it becomes token sequences."""

    corpus: list[str] = field(default_factory=lambda: ["wiki-en"])  # files, dirs or catalogue names
    tokenizer: str | None = None  # vocab.txt / tokenizer.json / dir; None = train one on the corpus
    vocab_size: int = 30522  # for a tokenizer trained here
    lowercase: bool = True
    max_seq_length: int = 128
    doc_per_line: bool = False
    text_field: str = "text"
    short_seq_prob: float = 0.05
    single_segment_prob: float = 0.1
    shard_size: int = 100_000
    cache_dir: str | None = None  # prepared shards; default: <cache>/prepared
    num_workers: int = 2
    # Held-out evaluation (off when both are empty): a fraction of the corpus' sequences kept out of
    # training, or separate text (files, dirs or catalogue names) prepared with the run's tokenizer.
    eval_fraction: float = 0.0
    eval_corpus: list[str] = field(default_factory=list)
    # Images instead of text (modality image): the corpus is one image source (a catalogue image set such as
    # fashion-mnist, a folder of PNG / JPEG files, a .npy / .npz file), resized to image_size x image_size and
    # quantised to image_levels grey levels; image_labels puts a class token first (class-conditional).
    # The sequence length and the model's 2-D positions follow from these (data.max_seq_length is derived).
    modality: str = "text"
    image_size: int = 14
    image_levels: int = 16
    image_labels: bool = True


@dataclass
class TrainSection:
    """Optimisation and bookkeeping (defaults: ELECTRA-Small)."""

    batch_size: int = 128  # global, per optimiser step
    grad_accum: int = 1
    steps: int = 1_000_000
    # Stop after this many minutes of training (0: no limit) with a checkpoint; the schedule stays that of
    # train.steps, so --resume goes on where the run stopped (training in time slices).
    max_minutes: float = 0.0
    lr: float = 5e-4
    warmup_steps: int = 10_000
    weight_decay: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-6
    bias_correction: bool = False  # the official optimiser has none
    clip_norm: float = 1.0
    # Steps with a non-finite loss or gradient are skipped (no update); more than this many stop the run.
    skip_nonfinite_steps: int = 0
    seed: int = 0
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU), bf16, fp32
    compile: bool = False
    # auto: graph on one CUDA device (the whole step replayed as one CUDA graph), else default; or a
    # torch.compile mode: default, reduce-overhead (forward and backward as CUDA graphs), max-autotune
    compile_mode: str = "auto"
    # Recompute each encoder layer's activations in backward instead of keeping them (for Large: less
    # memory, about a third more compute); the step is then not captured as one CUDA graph.
    activation_checkpointing: bool = False
    # Recompute only what is cheap in each encoder layer (LayerNorm, GELU, residual sums, casts) and keep the
    # outputs of matrix products, attention and dropout: a third less activation memory for a few percent more
    # compute, and the step can still be one CUDA graph. Instead of activation_checkpointing, not with it.
    selective_checkpointing: bool = False
    fsdp: bool = False  # under torchrun: shard weights, gradients and optimiser state (FSDP2) instead of DDP
    # Start a new run from a pretrained checkpoint's weights (ours, or an `electra import`ed Hugging Face
    # ELECTRA): its model shape and tokenizer replace model.* and data.tokenizer; optimiser and data start fresh.
    init_from: str | None = None
    output_dir: str = "runs/electra"
    log_every: int = 10
    save_every: int = 1000
    eval_every: int = 0  # steps between held-out evaluations; 0 = at every checkpoint
    eval_sequences: int = 2048  # at most this many held-out sequences per evaluation
    keep_checkpoints: int = 3
    tensorboard: bool = True

    @property
    def recompute(self) -> str | None:
        """What backward recomputes (``parallelize``'s ``recompute``): ``full`` layers, the ``selective`` cheap
        ops, or nothing."""
        return "full" if self.activation_checkpointing else "selective" if self.selective_checkpointing else None


@dataclass
class PretrainConfig:
    """Everything ``electra pretrain`` needs."""

    model: ModelSection = field(default_factory=ModelSection)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        """Raise :class:`ElectraError` naming the first out-of-range value."""
        m, o, d, t = self.model, self.objective, self.data, self.train
        checks = [
            ("model.hidden_size", m.hidden_size > 0),
            ("model.num_layers", m.num_layers > 0),
            ("model.num_heads", m.num_heads > 0 and m.hidden_size % m.num_heads == 0),
            ("model.intermediate_size", m.intermediate_size > 0),
            ("model.embedding_size", m.embedding_size > 0),
            ("model.dropout", 0 <= m.dropout < 1),
            ("model.attention_dropout", 0 <= m.attention_dropout < 1),
            ("model.generator_multiplier", 0 < m.generator_multiplier <= 1),
            ("model.embedding_sharing", m.embedding_sharing in EMBEDDING_SHARING),
            ("objective.kind", o.kind in KINDS),
            ("objective.disc_positions", o.disc_positions in DISC_POSITIONS and (o.disc_positions == "all"
                                                                                 or o.kind == "electra")),
            ("objective.generator_training", o.generator_training in GENERATOR_TRAINING
             and (o.generator_training == "mle" or o.kind == "electra")),
            ("objective.mask_rate", 0 < o.mask_rate < 1),
            ("objective.mask_schedule", o.mask_schedule in MASK_SCHEDULES),
            ("objective.disc_labels", o.disc_labels in DISC_LABELS and (o.disc_labels == "replaced"
                                                                        or o.kind == "electra")),
            ("objective.mask_token_prob", 0 <= o.mask_token_prob <= 1),
            ("objective.random_token_prob", 0 <= o.random_token_prob <= 1 - o.mask_token_prob + 1e-9),
            ("objective.temperature", o.temperature > 0),
            ("data.corpus", len(d.corpus) > 0 and (d.modality == "text" or len(d.corpus) == 1)),
            ("data.modality", d.modality in MODALITIES),
            ("data.image_size", 4 <= d.image_size <= 64),
            ("data.image_levels", 2 <= d.image_levels <= 256),
            ("model.grid_rows", (m.grid_rows == 0) == (d.modality == "text")),
            ("data.vocab_size", d.vocab_size >= 10),
            ("data.max_seq_length", 8 <= d.max_seq_length <= m.max_position_embeddings),
            ("data.short_seq_prob", 0 <= d.short_seq_prob <= 1),
            ("data.single_segment_prob", 0 <= d.single_segment_prob <= 1),
            ("data.shard_size", d.shard_size > 0),
            ("data.num_workers", d.num_workers >= 0),
            ("data.eval_fraction", 0 <= d.eval_fraction < 1 and not (d.eval_fraction and d.eval_corpus)),
            ("train.batch_size", t.batch_size > 0),
            ("train.grad_accum", t.grad_accum > 0 and t.batch_size % t.grad_accum == 0),
            ("train.steps", t.steps > 0),
            ("train.max_minutes", t.max_minutes >= 0),
            ("train.selective_checkpointing", not (t.selective_checkpointing and t.activation_checkpointing)),
            ("train.lr", t.lr > 0),
            ("train.warmup_steps", t.warmup_steps >= 0),
            ("train.weight_decay", t.weight_decay >= 0),
            ("train.adam_beta1", 0 <= t.adam_beta1 < 1),
            ("train.adam_beta2", 0 <= t.adam_beta2 < 1),
            ("train.adam_eps", t.adam_eps > 0),
            ("train.clip_norm", t.clip_norm >= 0),
            ("train.skip_nonfinite_steps", t.skip_nonfinite_steps >= 0),
            ("train.precision", t.precision in ("auto", "bf16", "fp32")),
            ("train.compile_mode", t.compile_mode in COMPILE_MODES),
            ("train.log_every", t.log_every > 0),
            ("train.save_every", t.save_every > 0),
            ("train.eval_every", t.eval_every >= 0),
            ("train.eval_sequences", t.eval_sequences > 0),
            ("train.keep_checkpoints", t.keep_checkpoints > 0),
        ]
        check_ranges(self, checks, _range_hints(self))

    def warnings(self) -> list[str]:
        """Settings that are valid but known to train badly, one line each."""
        t = self.train
        out = []
        # Without bias correction Adam's first updates are larger than lr by up to
        # 1 / sqrt(1 - beta2^step) (~3x at step 100 for beta2 = 0.999); the official recipe hides this
        # under 10,000 warm-up steps. Measured on the tiny preset: warm-up 100 at lr 1e-3 collapses the
        # discriminator to a constant prediction (tokens' final states identical), warm-up 300 does not.
        horizon = int(1 / (1 - t.adam_beta2)) if t.adam_beta2 > 0 else 0
        if not t.bias_correction and t.warmup_steps < horizon // 4 and t.steps > t.warmup_steps:
            out.append(
                f"train.warmup_steps = {t.warmup_steps} is short for Adam without bias correction "
                f"(its first updates are up to {1 / (1 - t.adam_beta2 ** max(t.warmup_steps, 1)) ** 0.5:.1f}x lr "
                f"until step ~{horizon}); the discriminator may collapse to a constant: use warm-up >= "
                f"{horizon // 4} or train.bias_correction true"
            )
        return out


def _range_hints(cfg: PretrainConfig) -> dict[str, str]:
    return {
        "model.num_heads": f" (must divide model.hidden_size = {cfg.model.hidden_size})",
        "data.max_seq_length": f" (must be in [8, model.max_position_embeddings = "
        f"{cfg.model.max_position_embeddings}])",
        "train.grad_accum": f" (must divide train.batch_size = {cfg.train.batch_size})",
        "objective.kind": f" (expected one of {', '.join(KINDS)})",
        "model.embedding_sharing": f" (expected one of {', '.join(EMBEDDING_SHARING)})",
        "objective.disc_positions": " (expected all or masked; masked only with objective.kind electra)",
        "objective.generator_training": " (expected mle or adversarial; adversarial only with objective.kind "
        "electra)",
        "train.precision": " (expected auto, bf16 or fp32)",
        "objective.mask_schedule": f" (expected one of {', '.join(MASK_SCHEDULES)})",
        "objective.disc_labels": " (expected replaced or generated; generated only with objective.kind electra)",
        "model.generator_multiplier": " (expected in (0, 1])",
        "data.eval_fraction": " (expected in [0, 1), and not together with data.eval_corpus)",
        "data.corpus": " (expected at least one source; exactly one for data.modality image)",
        "data.modality": f" (expected one of {', '.join(MODALITIES)})",
        "model.grid_rows": " (2-D positions are for data.modality image, which sets them itself)",
    }


MODALITIES = ("text", "image")


def derive_image_shape(cfg: PretrainConfig) -> None:
    """For ``data.modality image``: the sequence length, the positions and the grid follow from the image size and
    whether there is a class token (no token types)."""
    d, m = cfg.data, cfg.model
    if d.modality != "image":
        return
    d.max_seq_length = d.image_size * d.image_size + (1 if d.image_labels else 0)
    m.max_position_embeddings = d.max_seq_length
    m.grid_rows = m.grid_cols = d.image_size
    m.type_vocab_size = 0


PRESETS = ("tiny", "small", "base", "large", "image-tiny", "image-base")


def preset_path(name: str) -> Path:
    """Path of a bundled preset YAML file."""
    if name not in PRESETS:
        raise ElectraError(f"unknown preset {name!r}{suggest(name, PRESETS)}; valid: {', '.join(PRESETS)}")
    return Path(str(resources.files("electra") / "configs" / f"{name}.yaml"))


def build_config(
    preset: str | None = None, config_file: Path | None = None, overrides: list[str] | None = None
) -> PretrainConfig:
    """Assemble and validate a :class:`PretrainConfig` from a preset, a YAML file and overrides."""
    cfg = PretrainConfig()
    explicit: set[str] = set()
    if preset:
        explicit |= apply(cfg, read_yaml(preset_path(preset)), f"preset {preset}")
    if config_file:
        explicit |= apply(cfg, read_yaml(Path(config_file)), str(config_file))
    if overrides:
        explicit |= apply(cfg, parse_overrides(overrides), "command line")
    derive_image_shape(cfg)
    if cfg.objective.kind == "mlm":
        # BERT's 80% [MASK] / 10% random / 10% unchanged unless the user chose otherwise.
        if "objective.mask_token_prob" not in explicit:
            cfg.objective.mask_token_prob = 0.8
        if "objective.random_token_prob" not in explicit:
            cfg.objective.random_token_prob = 0.1
    cfg.validate()
    return cfg


def config_from_dict(data: dict, overrides: list[str] | None = None) -> PretrainConfig:
    """Rebuild a config saved with :meth:`PretrainConfig.to_dict` (e.g. from a checkpoint), then apply
    ``--section.key`` overrides."""
    cfg = PretrainConfig()
    apply(cfg, data, "checkpoint config")
    if overrides:
        apply(cfg, parse_overrides(overrides), "command line")
    derive_image_shape(cfg)
    return cfg
