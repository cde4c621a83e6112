"""Pretraining ELECTRA (or a BERT-style masked LM) on a corpus.

Python use::

    from electra.recipes.pretrain import build_config, pretrain

    pretrain(build_config("tiny", overrides=["--train.output_dir", "runs/tiny"]))
"""

from electra.recipes.pretrain.config import PRESETS, PretrainConfig, build_config, config_from_dict
from electra.recipes.pretrain.run import pretrain

__all__ = ["PRESETS", "PretrainConfig", "build_config", "config_from_dict", "pretrain"]
