"""Build the pretraining model and objective from a configuration."""

from __future__ import annotations

from electra.core.errors import ElectraError
from electra.models import Electra, ElectraConfig, MaskedLM, PretrainedModel
from electra.objectives import MaskedLanguageModeling, MaskingObjective, ReplacedTokenDetection
from electra.recipes.pretrain.config import PretrainConfig


def padded_vocab_size(n: int, multiple: int = 64) -> int:
    """Round the embedding table up to a multiple of 64 rows (faster matmuls; extra rows unused)."""
    return -(-n // multiple) * multiple


def build_model(cfg: PretrainConfig, vocab_size: int, pad_token_id: int = 0) -> PretrainedModel:
    """:class:`Electra` (generator + discriminator) or, for ``objective.kind == "mlm"``, a :class:`MaskedLM`.

    ``pad_token_id`` is the tokenizer's [PAD] id: its embedding row starts at zero and the look-up passes
    it no gradient."""
    encoder = cfg.model.encoder(vocab_size, pad_token_id)
    if cfg.objective.kind == "mlm":
        return MaskedLM(encoder)
    return Electra(ElectraConfig(encoder, cfg.model.generator_multiplier))


def objective_kind(model_class: type[PretrainedModel]) -> str:
    """The ``objective.kind`` a model class is pretrained with: ``electra`` (:class:`Electra`) or ``mlm``
    (:class:`MaskedLM`)."""
    if issubclass(model_class, Electra):
        return "electra"
    if issubclass(model_class, MaskedLM):
        return "mlm"
    raise ElectraError(f"a {model_class.__name__} cannot be pretrained (expected Electra or MaskedLM)")


def build_objective(model: PretrainedModel, cfg: PretrainConfig, special_ids: dict[str, int],
                    vocab_size: int | None = None) -> MaskingObjective:  # fmt: skip
    """Wrap ``model`` in its pretraining objective; masking never touches CLS, SEP, MASK or PAD.
    ``vocab_size`` is the tokenizer's: ids of the table's padding beyond it are never predicted or drawn."""
    never_mask = [special_ids["cls"], special_ids["sep"], special_ids["mask"], special_ids["pad"]]
    if isinstance(model, Electra):
        return ReplacedTokenDetection(model.generator, model.discriminator, never_mask, special_ids["mask"],
                                      cfg.objective, vocab_size)  # fmt: skip
    if not isinstance(model, MaskedLM):
        raise TypeError(f"cannot pretrain a {type(model).__name__}")
    return MaskedLanguageModeling(model, never_mask, special_ids["mask"], cfg.objective, vocab_size)
