"""Tables for the dataset-level check benchmarks and tests, built from ../shared/data.

Checks only read ``row``, ``system``, ``prompt`` and ``output``, so these helpers
build just those columns (prompt = instruction + "\\n\\n" + input, as the readers do).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tatoeba import pairs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def alpaca_table(records: list[dict]) -> pa.Table:
    """row/system/prompt/output table from Alpaca records."""
    prompts = [r["instruction"] + ("\n\n" + r["input"] if r.get("input") else "") for r in records]
    return pa.table({
        "row": pa.array(range(len(records)), pa.int64()),
        "system": pa.nulls(len(records), pa.string()),
        "prompt": pa.array(prompts, pa.string()),
        "output": pa.array([r["output"] for r in records], pa.string()),
    })


def gpteacher() -> tuple[list[dict], list[bool]]:
    """GPTeacher Toolformer rows (exact-deduplicated) and, per row, whether its authors removed it
    as a near duplicate (absent from the similarity-0.8 file)."""
    rows = json.loads((DATA / "gpteacher-toolformer-deduped.json").read_text(encoding="utf-8"))
    kept = json.loads((DATA / "gpteacher-toolformer-similarity-0.8.json").read_text(encoding="utf-8"))
    key = lambda r: (r["instruction"], r.get("input", ""), r["output"])  # noqa: E731
    kept_keys = {key(r) for r in kept}
    return rows, [key(r) not in kept_keys for r in rows]


def tatoeba_rows(n: int | None = None, template: str = "Translate to French: {}") -> list[dict]:
    """The first n Tatoeba pairs in file order (short sentences first) as Alpaca rows."""
    ps = pairs()
    if n is not None:
        ps = ps[:n]
    return [{"instruction": template.format(en), "input": "", "output": fr} for en, fr in ps]


def prf(pred: list[bool], gold: list[bool]) -> dict[str, float]:
    """Precision, recall, F1 of boolean predictions against boolean gold labels."""
    tp = sum(p and g for p, g in zip(pred, gold))
    fp = sum(p and not g for p, g in zip(pred, gold))
    fn = sum(g and not p for p, g in zip(pred, gold))
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4), "flagged": tp + fp,
            "gold": tp + fn}


#: Short sentences in other languages, for injected "wrong language" answers.
OTHER_LANGUAGE = [
    "No sé qué hacer.", "Ich weiß es nicht.", "Non lo so.", "Eu não sei.", "¿Dónde está el baño?",
    "Das ist mein Haus.", "Mi piace la pizza.", "Ik hou van je.", "Vamos a la playa.", "Er ist sehr müde.",
    "Lo siento mucho.", "Wir sind hier.", "Hace frío hoy.", "Dov'è la stazione?", "Ele está cansado.",
    "Tengo hambre.", "Sie kommt morgen.", "Questo è il mio libro.", "Hij is thuis.", "Es muy tarde.",
]
#: Kinds of wrong answers :func:`with_wrong_answers` injects.
WRONG_KINDS = ("english_echo", "other_language", "other_sentence", "is_style", "truncated")


def with_wrong_answers(rows: list[dict], per_kind: int = 20, seed: int = 1) -> list[dict]:
    """``rows`` ("Translate to French: <en>" -> <fr>) plus, for ``per_kind`` random rows per kind, a
    copy of the prompt with a wrong answer. Every row gets a ``kind`` ("clean" or the wrong kind):
    the English echoed, a sentence in another language, another row's translation,
    "<english> is <french>", or the translation cut in half."""
    import random

    rng = random.Random(seed)
    out = [dict(r, kind="clean") for r in rows]
    picked = rng.sample(range(len(rows)), len(WRONG_KINDS) * per_kind)
    for k, i in enumerate(picked):
        kind = WRONG_KINDS[k // per_kind]
        en = rows[i]["instruction"].split(": ", 1)[1]
        fr = rows[i]["output"]
        if kind == "english_echo":
            wrong = en
        elif kind == "other_language":
            wrong = OTHER_LANGUAGE[k % len(OTHER_LANGUAGE)]
        elif kind == "other_sentence":
            wrong = rng.choice(rows)["output"]
        elif kind == "is_style":
            wrong = f"{en.rstrip('.!?').lower()} is {fr.rstrip('.!?').lower()}"
        else:
            words = fr.split()
            wrong = " ".join(words[: max(1, len(words) // 2)])
            if wrong == fr:
                wrong = fr[: max(1, len(fr) // 2)]
        out.append({"instruction": rows[i]["instruction"], "input": "", "output": wrong, "kind": kind})
    return out
