"""Build SFT rows from ../shared/data/tatoeba-fra-eng.tsv (english<TAB>french, headerless)."""

from __future__ import annotations

import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TATOEBA = ROOT.parent / "shared" / "data" / "tatoeba-fra-eng.tsv"

#: Prompt templates used to build more unique rows than the file has pairs.
TEMPLATES = (
    "Translate to French: {}",
    "Translate this sentence into French: {}",
    "How do you say this in French? {}",
    "French translation of: {}",
)


def pairs(drop_truncated_last: bool = True) -> list[tuple[str, str]]:
    """(english, french) pairs in file order. The file's last line is cut mid-sentence: dropped by default."""
    lines = TATOEBA.read_text(encoding="utf-8").splitlines()
    if drop_truncated_last:
        lines = lines[:-1]
    out = []
    for line in lines:
        en, _, fr = line.partition("\t")
        if en and fr:
            out.append((en, fr))
    return out


def clean_sample(n: int, seed: int = 0) -> list[dict]:
    """n pairs drawn at random (seeded) as Alpaca rows 'Translate to French: <en>' -> '<fr>'."""
    ps = pairs()
    rng = random.Random(seed)
    picked = rng.sample(range(len(ps)), n)
    return [{"instruction": f"Translate to French: {ps[i][0]}", "input": "", "output": ps[i][1]} for i in picked]


def scaled_rows(n: int, seed: int = 0) -> list[dict]:
    """n Alpaca rows: every pair under each template (~300k unique rows), then repeated to reach n."""
    ps = pairs()
    base = [(t.format(en), fr) for t in TEMPLATES for en, fr in ps]
    random.Random(seed).shuffle(base)
    return [{"instruction": base[i % len(base)][0], "input": "", "output": base[i % len(base)][1]} for i in range(n)]
