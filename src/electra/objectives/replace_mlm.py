"""The paper's Replace-MLM and All-Tokens-MLM ablations (ELECTRA, Clark et al. 2020, section 3.2).

Both corrupt the input as ELECTRA does (a generator's samples at the masked positions, no [MASK] seen by
the main model) but train the main model as a masked LM: *Replace MLM* predicts the original tokens at the
masked positions only; *All-Tokens MLM* predicts every token, with a copy gate ``D``:
``p(x_t) = D_t [x_t = input_t] + (1 - D_t) softmax(h_t)[x_t]``. They separate ELECTRA's two differences from
BERT: learning from all tokens, and no [MASK] mismatch between pretraining and fine-tuning.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from electra.models import CopyMaskedLM, MaskedLM
from electra.objectives.config import ObjectiveConfig
from electra.objectives.masked_lm import MaskingObjective, masked_lm_loss, propose


def copy_mlm_nll(logits: torch.Tensor, gate_logits: torch.Tensor, inputs: torch.Tensor,
                 targets: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Per-token ``-log p(target)`` [B, L] under the copy mechanism (in float32, in log space)."""
    log_vocab = F.log_softmax(logits.float(), dim=-1).gather(-1, targets[..., None]).squeeze(-1)
    gate = gate_logits.float()
    via_vocab = F.logsigmoid(-gate) + log_vocab
    via_copy = torch.where(inputs == targets, F.logsigmoid(gate), torch.full_like(gate, float("-inf")))
    return -torch.logaddexp(via_copy, via_vocab)


class ReplaceMLM(MaskingObjective):
    """Generator MLM loss × ``gen_weight`` + the main model's masked-LM loss on the generator's replacements
    (at the masked positions; with a :class:`CopyMaskedLM` main model, at every real token)."""

    def __init__(self, generator: MaskedLM, main: MaskedLM | CopyMaskedLM, never_mask: list[int], mask_id: int,
                 config: ObjectiveConfig | None = None, vocab_size: int | None = None):  # fmt: skip
        super().__init__(never_mask, mask_id, vocab_size or main.config.vocab_size,
                         config or ObjectiveConfig(kind="replace-mlm"))  # fmt: skip
        self.generator = generator
        self.main = main

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Loss and metrics for one batch of original token ids [B, L]."""
        proposal = propose(self, self.generator, input_ids, attention_mask, token_type_ids)
        real = attention_mask.float()
        if isinstance(self.main, CopyMaskedLM):
            logits, gate = self.main(proposal.corrupted, attention_mask, token_type_ids)
            nll = copy_mlm_nll(self.real_logits(logits), gate, proposal.corrupted, input_ids)
            main_loss = (nll * real).sum() / real.sum().clamp_min(1.0)
            with torch.no_grad():
                hit = torch.where(gate > 0, proposal.corrupted, logits.argmax(-1)) == input_ids
                main_acc = (hit.float() * real).sum() / real.sum().clamp_min(1.0)
        else:
            logits = self.main(proposal.corrupted, attention_mask, token_type_ids, positions=proposal.masked.positions)
            main_loss, main_acc = masked_lm_loss(self.real_logits(logits), proposal.masked.targets,
                                                 proposal.masked.weights)  # fmt: skip
        loss = self.config.gen_weight * proposal.mlm_loss + main_loss
        replaced = (((proposal.corrupted != input_ids).float() * real).sum() / real.sum().clamp_min(1.0)).detach()
        return {
            "loss": loss,
            "mlm_loss": proposal.mlm_loss.detach(),
            "main_loss": main_loss.detach(),
            "gen_acc": proposal.gen_acc,
            "main_acc": main_acc.detach(),
            "replaced_frac": replaced,
        }
