"""Translation with the encoder-decoder Transformer: configuration, data, training on the shared engine,
translation and BLEU / chrF scoring."""

from electra.recipes.seq2seq.config import Seq2SeqTrainConfig, build_seq2seq_config
from electra.recipes.seq2seq.run import score, train, translate

__all__ = ["Seq2SeqTrainConfig", "build_seq2seq_config", "score", "train", "translate"]
