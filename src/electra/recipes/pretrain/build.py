"""Build the pretraining model and objective from a configuration."""

from __future__ import annotations

from electra.core.errors import ElectraError
from electra.models import Electra, ElectraConfig, MaskedLM, PretrainedModel, ReplaceMLMConfig, ReplaceMLMPair
from electra.objectives import MaskedLanguageModeling, MaskingObjective, ReplacedTokenDetection, ReplaceMLM
from electra.recipes.pretrain.config import PretrainConfig


def padded_vocab_size(n: int, multiple: int = 64) -> int:
    """Round the embedding table up to a multiple of 64 rows (faster matmuls; extra rows unused)."""
    return -(-n // multiple) * multiple


def build_model(cfg: PretrainConfig, vocab_size: int, pad_token_id: int = 0) -> PretrainedModel:
    """The model ``objective.kind`` trains: :class:`Electra` (generator + discriminator), a :class:`MaskedLM`
    (``mlm``) or a :class:`ReplaceMLMPair` (``replace-mlm``; ``all-tokens-mlm`` with the copy gate).

    ``pad_token_id`` is the tokenizer's [PAD] id: its embedding row starts at zero and the look-up passes
    it no gradient."""
    m, kind = cfg.model, cfg.objective.kind
    encoder = m.encoder(vocab_size, pad_token_id)
    if kind == "mlm":
        return MaskedLM(encoder)
    if kind in ("replace-mlm", "all-tokens-mlm"):
        return ReplaceMLMPair(ReplaceMLMConfig(encoder, m.generator_multiplier, m.embedding_sharing,
                                               copy_mechanism=kind == "all-tokens-mlm"))  # fmt: skip
    return Electra(ElectraConfig(encoder, m.generator_multiplier, m.embedding_sharing))


def objective_kind(model_class: type[PretrainedModel], model_config: dict | None = None) -> str:
    """The ``objective.kind`` that pretrains a ``model_class`` model with ``model_config`` (its config.json
    entry): ``electra``, ``mlm``, ``replace-mlm`` or ``all-tokens-mlm``."""
    if issubclass(model_class, Electra):
        return "electra"
    if issubclass(model_class, ReplaceMLMPair):
        return "all-tokens-mlm" if (model_config or {}).get("copy_mechanism") else "replace-mlm"
    if issubclass(model_class, MaskedLM):
        return "mlm"
    raise ElectraError(f"a {model_class.__name__} cannot be pretrained (expected Electra, MaskedLM or ReplaceMLMPair)")


def build_objective(model: PretrainedModel, cfg: PretrainConfig, special_ids: dict[str, int],
                    vocab_size: int | None = None,
                    never_mask: list[int] | None = None) -> MaskingObjective:  # fmt: skip
    """Wrap ``model`` in its pretraining objective; masking never touches ``never_mask`` (default: CLS, SEP, MASK
    and PAD of ``special_ids``; images pass their own). ``vocab_size`` is the tokenizer's: ids of the table's
    padding beyond it are never predicted or drawn."""
    if never_mask is None:
        never_mask = [special_ids["cls"], special_ids["sep"], special_ids["mask"], special_ids["pad"]]
    mask_id = special_ids["mask"]
    if isinstance(model, Electra):
        return ReplacedTokenDetection(model.generator, model.discriminator, never_mask, mask_id, cfg.objective,
                                      vocab_size)  # fmt: skip
    if isinstance(model, ReplaceMLMPair):
        return ReplaceMLM(model.generator, model.main, never_mask, mask_id, cfg.objective, vocab_size)
    if not isinstance(model, MaskedLM):
        raise TypeError(f"cannot pretrain a {type(model).__name__}")
    return MaskedLanguageModeling(model, never_mask, mask_id, cfg.objective, vocab_size)
