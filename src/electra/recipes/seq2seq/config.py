"""Configuration of ``electra seq2seq train``: dataclass sections, presets, YAML, ``--section.key value``
overrides (the mechanism of :mod:`electra.core.config`, as pretraining's)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from electra.core.config import apply, check_ranges, parse_overrides, suggest
from electra.core.errors import ElectraError
from electra.core.files import read_yaml
from electra.models import Seq2SeqConfig
from electra.models.config import SEQ2SEQ_PRESETS, Seq2SeqShape


@dataclass
class ModelSection(Seq2SeqShape):
    """The encoder-decoder's shape (defaults: the paper's base); the vocabulary comes from the tokenizer."""

    max_positions: int = 256

    def model_config(self, vocab_size: int, pad_token_id: int = 0, tgt_vocab_size: int | None = None) -> Seq2SeqConfig:
        return Seq2SeqConfig(vocab_size=vocab_size, tgt_vocab_size=tgt_vocab_size, pad_token_id=pad_token_id,
                             **asdict(self))  # fmt: skip


@dataclass
class DataSection:
    """Sentence pairs and their sub-word vocabulary."""

    corpus: list[str] = field(default_factory=lambda: ["bible-en-es"])  # a catalogue pair, a TSV, or two files
    valid: list[str] = field(default_factory=list)  # a TSV or two files; default: the catalogue pair's dev split
    tokenizer: str | None = None  # a tokenizer.json; None: train a joint one on the training pairs
    tokenizer_kind: str = "bpe"  # or unigram
    joint_vocabulary: bool = True  # false: one tokenizer per side (then model.shared_embeddings must be false)
    vocab_size: int = 8000
    max_length: int = 128  # sub-word tokens per side (longer training pairs are dropped and counted)
    max_ratio: float = 3.0  # longest side / shortest side, at most
    max_tokens: int = 4096  # per batch: rows x longest side


@dataclass
class TrainSection:
    """Optimisation, evaluation and bookkeeping (defaults: the paper's base, as fairseq runs it)."""

    steps: int = 100_000
    max_minutes: float = 0.0  # stop after this many minutes of training (0: no limit), or at train.steps
    lr: float = 7e-4
    warmup_steps: int = 4000
    adam_beta1: float = 0.9
    adam_beta2: float = 0.98
    adam_eps: float = 1e-8
    weight_decay: float = 0.0
    label_smoothing: float = 0.1
    clip_norm: float = 0.0  # 0: no clipping
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # bf16 on CUDA
    output_dir: str = "runs/seq2seq"
    log_every: int = 50
    save_every: int = 1000
    keep_checkpoints: int = 5
    eval_sentences: int = 200  # dev pairs translated for BLEU at each checkpoint (all of them for the loss)
    beam: int = 4
    length_penalty: float = 1.0
    max_len_a: float = 1.2
    max_len_b: int = 10
    tensorboard: bool = True


@dataclass
class Seq2SeqTrainConfig:
    """Everything ``electra seq2seq train`` needs."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        """Raise :class:`ElectraError` naming the first out-of-range value."""
        m, d, t = self.model, self.data, self.train
        check_ranges(self, [
            ("model.num_heads", m.num_heads > 0 and m.hidden_size % m.num_heads == 0),
            ("model.encoder_layers", m.encoder_layers > 0),
            ("model.decoder_layers", m.decoder_layers > 0),
            ("model.dropout", 0 <= m.dropout < 1),
            ("model.positions", m.positions in ("sinusoidal", "learned")),
            ("data.corpus", 0 < len(d.corpus) <= 2),
            ("data.valid", len(d.valid) <= 2),
            ("data.tokenizer_kind", d.tokenizer_kind in ("bpe", "unigram")),
            ("data.joint_vocabulary", d.joint_vocabulary or (not m.shared_embeddings and not d.tokenizer)),
            ("data.vocab_size", d.vocab_size > 8),
            ("data.max_length", 2 <= d.max_length < m.max_positions),
            ("data.max_ratio", d.max_ratio >= 1),
            ("data.max_tokens", d.max_tokens >= d.max_length + 1),
            ("train.steps", t.steps > 0),
            ("train.max_minutes", t.max_minutes >= 0),
            ("train.lr", t.lr > 0),
            ("train.warmup_steps", t.warmup_steps >= 0),
            ("train.label_smoothing", 0 <= t.label_smoothing < 1),
            ("train.precision", t.precision in ("auto", "bf16", "fp32")),
            ("train.beam", t.beam > 0),
            ("train.save_every", t.save_every > 0),
            ("train.log_every", t.log_every > 0),
            ("train.keep_checkpoints", t.keep_checkpoints > 0),
        ], {"model.num_heads": f" (must divide model.hidden_size = {m.hidden_size})",
            "data.corpus": " (a catalogue pair, one TSV, or two line-aligned files)",
            "data.max_length": f" (must be at least 2 and below model.max_positions = {m.max_positions})",
            "data.max_tokens": " (must hold one pair of data.max_length tokens)",
            "data.joint_vocabulary": " (false needs model.shared_embeddings false and no data.tokenizer)"})  # fmt: skip


PRESETS = ("tiny", "small", "base", "big")


def preset_path(name: str) -> Path:
    """Path of a bundled seq2seq preset's data and training settings (``configs/seq2seq-<name>.yaml``); its
    model shape is :data:`~electra.models.config.SEQ2SEQ_PRESETS`'s."""
    if name not in PRESETS:
        raise ElectraError(f"unknown preset {name!r}{suggest(name, PRESETS)}; valid: {', '.join(PRESETS)}")
    return Path(str(resources.files("electra") / "configs" / f"seq2seq-{name}.yaml"))


def build_seq2seq_config(preset: str | None = None, config_file: Path | None = None,
                         overrides: list[str] | None = None) -> Seq2SeqTrainConfig:  # fmt: skip
    """Defaults < preset < YAML file < ``--section.key value`` overrides, validated."""
    cfg = Seq2SeqTrainConfig()
    if preset:  # the model's shape from SEQ2SEQ_PRESETS (one list of the shapes), the rest from its file
        apply(cfg, {"model": SEQ2SEQ_PRESETS[preset]} if preset in SEQ2SEQ_PRESETS else {}, f"preset {preset}")
        apply(cfg, read_yaml(preset_path(preset)), f"preset {preset}")
    if config_file:
        apply(cfg, read_yaml(Path(config_file)), str(config_file))
    if overrides:
        apply(cfg, parse_overrides(overrides), "command line")
    cfg.validate()
    return cfg


def config_from_dict(data: dict, overrides: list[str] | None = None) -> Seq2SeqTrainConfig:
    """A config saved with :meth:`Seq2SeqTrainConfig.to_dict` (a checkpoint's), then ``--section.key``
    overrides."""
    cfg = Seq2SeqTrainConfig()
    apply(cfg, data, "checkpoint config")
    if overrides:
        apply(cfg, parse_overrides(overrides), "command line")
    return cfg
