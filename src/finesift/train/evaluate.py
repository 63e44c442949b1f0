"""Evaluation of a fine-tuned model: eval loss, and greedy generation scored with chrF, BLEU and exact match.

* Eval loss is the mean negative log-likelihood of the answer tokens (the training loss
  on held-out rows); the output layer runs only at answer positions.
* Generation is greedy and batched, prompts left-padded and sorted by length so a batch
  wastes little on padding; it stops at the end-of-turn token or ``max_new_tokens``.
* chrF and BLEU are sacrebleu's corpus scores against every reference the eval file
  gives a prompt; exact match compares after Unicode (NFKC) and whitespace
  normalisation, case and punctuation kept.
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from .data import IGNORE, ChatFormatter, EvalItem, Tokenized


@dataclass
class EvalResult:
    metrics: dict[str, float]  # chrf, bleu, exact_match, eval_loss
    predictions: list[str]
    per_item: dict[str, list[float]] = field(default_factory=dict)  # sentence chrF, exact match: for bootstraps
    seconds: dict[str, float] = field(default_factory=dict)
    #: inference cost on the eval prompts: generated tokens and generation seconds per answer
    inference: dict[str, float] = field(default_factory=dict)


def normalize(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _device(model):
    return next(model.parameters()).device


def eval_loss(model, data: Tokenized, pad_id: int, batch_size: int = 16, autocast: bool = False) -> float:
    """Mean NLL per answer token over ``data`` (sum over tokens / count, not a mean of batch means)."""
    import torch

    if not len(data):
        return float("nan")
    from .sft import answer_loss_sum

    device = _device(model)
    order = sorted(range(len(data)), key=lambda i: len(data.input_ids[i]))
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            width = max(len(data.input_ids[i]) for i in idx)
            ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            labels = torch.full((len(idx), width), IGNORE, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                n = len(data.input_ids[i])
                ids[r, :n] = torch.tensor(data.input_ids[i])
                labels[r, :n] = torch.tensor(data.labels[i])
                mask[r, :n] = 1
            batch = {"input_ids": ids.to(device), "labels": labels.to(device), "attention_mask": mask.to(device)}
            loss_sum, n_tok, _ = answer_loss_sum(model, batch)
            total += float(loss_sum)
            count += int(n_tok)
    model.train(was_training)
    return total / max(count, 1)


def generate(model, tokenizer, formatter: ChatFormatter, items: list[EvalItem], *, max_new_tokens: int = 64,
             batch_size: int = 16, progress=None, token_counts: list[int] | None = None) -> list[str]:
    """Greedy answers for every item, in item order.

    ``token_counts``, when given, receives per item the number of tokens generated up to and including the first
    end-of-turn token (what the answer costs at inference; padding after it is not counted).
    """
    import torch
    from transformers import GenerationConfig

    device = _device(model)
    prompts = [formatter.encode_prompt(it.messages) for it in items]
    order = sorted(range(len(items)), key=lambda i: -len(prompts[i]))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos = {tokenizer.eos_token_id}
    gen_eos = getattr(model.generation_config, "eos_token_id", None)
    eos |= set(gen_eos if isinstance(gen_eos, list) else [gen_eos])
    eos.discard(None)
    gcfg = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, pad_token_id=pad_id,
                            eos_token_id=sorted(eos), use_cache=True)
    out: list[str] = [""] * len(items)
    counts = [0] * len(items)
    eos_ids = torch.tensor(sorted(eos), dtype=torch.long) if eos else None
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            width = max(len(prompts[i]) for i in idx)
            ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):  # left padding: every prompt ends where generation starts
                n = len(prompts[i])
                ids[r, width - n:] = torch.tensor(prompts[i])
                mask[r, width - n:] = 1
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=gcfg)
            new = gen[:, width:].cpu()
            for r, i in enumerate(idx):
                out[i] = tokenizer.decode(new[r], skip_special_tokens=True).strip()
                counts[i] = _generated_length(new[r], eos_ids)
            if progress is not None:
                progress(len(idx))
    model.train(was_training)
    if token_counts is not None:
        token_counts[:] = counts
    return out


def _generated_length(new_tokens, eos_ids) -> int:
    """Tokens up to and including the first end-of-sequence token (all of them when it never came)."""
    if eos_ids is None or len(new_tokens) == 0:
        return int(len(new_tokens))
    import torch

    hits = torch.nonzero(torch.isin(new_tokens, eos_ids), as_tuple=False)
    return int(hits[0, 0]) + 1 if len(hits) else int(len(new_tokens))


def score(predictions: list[str], items: list[EvalItem]) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Corpus chrF and BLEU against all references, exact match; plus per-item chrF and exact match."""
    from sacrebleu.metrics import BLEU, CHRF

    n_refs = max((len(it.references) for it in items), default=1)
    # sacrebleu takes one stream per reference slot; a missing reference is None
    streams = [[it.references[k] if k < len(it.references) else None for it in items] for k in range(n_refs)]
    chrf, bleu = CHRF(), BLEU()
    corpus = {
        "chrf": chrf.corpus_score(predictions, streams).score,
        "bleu": bleu.corpus_score(predictions, streams).score,
    }
    em = [float(any(normalize(p) == normalize(r) for r in it.references)) for p, it in zip(predictions, items)]
    corpus["exact_match"] = 100.0 * sum(em) / max(len(em), 1)
    sent_chrf = [chrf.sentence_score(p, it.references).score for p, it in zip(predictions, items)]
    return corpus, {"chrf": sent_chrf, "exact_match": [100.0 * e for e in em]}


def prepare_for_eval(model, dtype: str = "fp32"):
    """Merge a LoRA adapter into its base (faster generation) and cast for evaluation. Returns the plain model."""
    import torch

    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    model.eval()
    return model


def evaluate(model, tokenizer, formatter: ChatFormatter, items: list[EvalItem], loss_data: Tokenized, *,
             max_new_tokens: int = 64, batch_size: int = 16, loss_batch_size: int = 16,
             progress=None) -> EvalResult:
    """Eval loss on ``loss_data`` and generation metrics on ``items`` for an already-prepared model."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    t0 = time.perf_counter()
    loss = eval_loss(model, loss_data, pad_id, loss_batch_size)
    t1 = time.perf_counter()
    counts: list[int] = []
    preds = generate(model, tokenizer, formatter, items, max_new_tokens=max_new_tokens, batch_size=batch_size,
                     progress=progress, token_counts=counts)
    t2 = time.perf_counter()
    metrics, per_item = score(preds, items)
    metrics["eval_loss"] = loss
    n = max(len(items), 1)
    inference = {"tokens_per_answer": sum(counts) / n, "seconds_per_answer": (t2 - t1) / n,
                 "capped_share": sum(c >= max_new_tokens for c in counts) / n}
    return EvalResult(metrics, preds, per_item, {"eval_loss": round(t1 - t0, 2), "generation": round(t2 - t1, 2)},
                      inference)


def predictions_records(items: list[EvalItem], preds: list[str], per_item: dict[str, list[float]]) -> list[dict[str, Any]]:
    """Rows for ``predictions.jsonl``: the prompt, the references, the model's answer and its scores."""
    out = []
    for i, (it, p) in enumerate(zip(items, preds)):
        user = next((m["content"] for m in reversed(it.messages) if m["role"] == "user"), "")
        out.append({"prompt": user, "references": it.references, "prediction": p,
                    **{k: round(v[i], 3) for k, v in per_item.items()}})
    return out
