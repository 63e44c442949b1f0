"""A tiny curate output folder, built once per session (no models) and copied for each test."""

from __future__ import annotations

import shutil

import orjson
import pytest

XSS_PROMPT = "Translate to French: <script>window.__xss = 1</script> is a tag."
XSS_OUTPUT = '<img src=x onerror="window.__xss = 2"> est une balise.'

PAIRS = [
    ("Hello, how are you?", "Bonjour, comment allez-vous ?"),
    ("What is your name?", "Quel est votre nom ?"),
    ("I love learning languages.", "J'adore apprendre les langues."),
    ("The weather is nice today.", "Il fait beau aujourd'hui."),
    ("Where is the train station?", "Où est la gare ?"),
    ("I would like a coffee, please.", "Je voudrais un café, s'il vous plaît."),
    ("My brother lives in Paris.", "Mon frère habite à Paris."),
    ("We are going to the beach tomorrow.", "Nous allons à la plage demain."),
    ("This book is very interesting.", "Ce livre est très intéressant."),
    ("Can you help me?", "Pouvez-vous m'aider ?"),
    ("The cat is sleeping on the sofa.", "Le chat dort sur le canapé."),
    ("I have two sisters.", "J'ai deux sœurs."),
    ("She reads a newspaper every morning.", "Elle lit un journal chaque matin."),
    ("The museum opens at nine.", "Le musée ouvre à neuf heures."),
    ("They play football on Sundays.", "Ils jouent au football le dimanche."),
    ("How much does this cost?", "Combien ça coûte ?"),
    ("The children are in the garden.", "Les enfants sont dans le jardin."),
    ("I forgot my umbrella.", "J'ai oublié mon parapluie."),
]


def rows() -> list[dict]:
    out = [{"instruction": f"Translate to French: {en}", "input": "", "output": fr, "source": "test"} for en, fr in PAIRS]
    out.append({"instruction": XSS_PROMPT, "input": "", "output": XSS_OUTPUT, "source": "test"})
    out.append(dict(out[0], source="copy"))  # exact duplicate of row 0
    out.append(dict(out[0], source="copy2"))
    out.append({"instruction": "Translate to French: Where is the train station?", "input": "",
                "output": "Where is the train station?", "source": "echo"})  # conflict/echo with row 4
    out.append({"instruction": "Translate to French: Good night.", "input": "", "output": "", "source": "empty"})
    out.append({"instruction": "Translate to French: See you soon.", "input": "", "output": "N/A", "source": "ph"})
    return out


@pytest.fixture(scope="session")
def curated_master(tmp_path_factory):
    from finesift.api import curate

    base = tmp_path_factory.mktemp("review-master")
    data = base / "data.jsonl"
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows()))
    curate(str(data), base / "out", no_models=True)
    return base / "out"


@pytest.fixture
def curated(curated_master, tmp_path):
    """A fresh copy of the curate output folder (its review.sqlite starts empty)."""
    dst = tmp_path / "curated"
    shutil.copytree(curated_master, dst)
    return dst
