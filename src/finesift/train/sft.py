"""TRL's SFTTrainer with a loss that projects to the vocabulary only at answer positions.

TRL 1.x computes the loss with a chunked "fused LM head" kernel. It is fast on GPUs
(Triton) but its CPU fallback loops over vocabulary tiles in Python: on a 2-core CPU it
made a tiny model's step ~7x slower than a plain forward. This subclass keeps TRL's
trainer (data handling, logging, checkpoints) and overrides only ``compute_loss``, the
extension point TRL documents: run the backbone, keep the hidden states whose next token
has a label, apply the output layer to those only, cross-entropy. Same loss, a fraction
of the cost when answers are short compared with prompts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from trl import SFTTrainer

IGNORE = -100


def _causal_lm(model):
    """The ``*ForCausalLM`` module (under a PEFT wrapper if any)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def answer_loss_sum(model, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(sum of NLL over labelled tokens, number of labelled tokens, number predicted correctly)``."""
    lm = _causal_lm(model)
    labels = inputs["labels"]
    hidden = lm.base_model(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"),
                           use_cache=False).last_hidden_state
    target = labels[:, 1:]
    sel = target != IGNORE
    logits = lm.get_output_embeddings()(hidden[:, :-1][sel]).float()
    tgt = target[sel]
    loss_sum = F.cross_entropy(logits, tgt, reduction="sum")
    with torch.no_grad():
        correct = (logits.argmax(-1) == tgt).sum()
    return loss_sum, sel.sum(), correct


class AnswerLossSFTTrainer(SFTTrainer):
    """SFTTrainer whose loss runs the output layer on answer tokens only (see module doc)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        loss_sum, n_tokens, correct = answer_loss_sum(model, inputs)
        # With gradient accumulation the Trainer passes the labelled-token count of the whole optimizer
        # step: dividing by it makes the summed micro-batch losses the per-token mean of the full batch,
        # whatever the micro-batch size (OOM recovery relies on that).
        denom = num_items_in_batch if num_items_in_batch is not None else n_tokens
        loss = loss_sum / torch.as_tensor(denom, device=loss_sum.device).clamp(min=1)
        n = int(n_tokens)
        self._metrics[mode]["mean_token_accuracy"].append(float(correct) / n if n else 0.0)
        if mode == "train" and "attention_mask" in inputs:
            self._total_train_tokens += int(inputs["attention_mask"].sum())
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        if return_outputs:
            raise NotImplementedError("finesift's trainer computes the loss only; it never returns logits")
        return loss

    def create_model_card(self, *args, **kwargs) -> None:
        """No model card: runs are local, and writing one on every checkpoint costs time."""
        return None
