"""``finesift.report.write_report``: sections per folder kind, capped samples, escaping, offline page."""

from __future__ import annotations

import re

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import finesift
from finesift.errors import InputError
from finesift.report import detect, project_2d, write_report
from finesift.report.page import script_json, word_diff

from .conftest import CHECKS, IMG, SCRIPT, rows, write_compare, write_synthetic_audit


def _sections(html: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', html)


def _data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="finesift-data">(.*?)</script>', html, re.S)
    return orjson.loads(m.group(1))


def _details(html: str, code: str) -> str:
    m = re.search(rf'<details class="issue" id="ex-{code}".*?</details>', html, re.S)
    assert m, f"no examples for {code}"
    return m.group(0)


def test_audit_folder_has_every_section_and_is_offline(audit_dir):
    path = write_report(audit_dir)
    assert path == audit_dir / "report.html"
    html = path.read_text(encoding="utf-8")
    assert _sections(html) == ["overview", "issues", "examples", "distributions", "groups", "map"]
    # counts per code with what each means, from summary.json
    summary = orjson.loads((audit_dir / "summary.json").read_bytes())
    assert summary["counts"]["exact_duplicate"] == 2
    assert summary["checks"]["exact_duplicate"]["description"] in html
    # the duplicate is shown beside the row kept instead
    dup = _details(html, "exact_duplicate")
    assert "row 12" in dup and "row 0 (kept member of its group)" in dup
    # thresholds are drawn on the score histograms: the conflict threshold from the resolved config
    shapes = [c["layout"].get("shapes") for c in _data(html)["charts"] if "conflict_score" in str(c["layout"]["title"])]
    assert shapes and shapes[0][0]["x0"] == summary["config"]["params"]["conflict"]["threshold"]
    # no embeddings were computed: the page says so instead of drawing a map
    assert "No embedding map" in html
    # self-contained: plotly.js is inside, nothing is loaded from anywhere
    assert "Plotly.newPlot" in html and len(html) > 3_000_000
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)\s*=", html, re.I)
    assert "default-src 'none'" in html.replace("&#x27;", "'")


def test_dataset_text_is_escaped_everywhere(audit_dir):
    html = write_report(audit_dir).read_text(encoding="utf-8")
    assert SCRIPT not in html and IMG not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;" in html
    # the only script elements are the page's own three
    assert len(re.findall(r"<script\b", html)) == 3


def test_hostile_input_file_name_is_escaped(tmp_path, write_jsonl):
    name = "x<img src=y onerror=alert(1)>.jsonl"
    finesift.audit(write_jsonl(rows(), name=name), out=tmp_path / "a", checks=["exact_duplicate"])
    html = write_report(tmp_path / "a").read_text(encoding="utf-8")
    assert "<img src=y" not in html and "x&lt;img src=y onerror=alert(1)&gt;.jsonl" in html


def test_json_in_script_cannot_close_the_element():
    text = script_json({"a": "</script><!-- <b> & \u2028"})
    assert "</" not in text and "<!--" not in text and "&" not in text and "\u2028" not in text
    assert orjson.loads(text) == {"a": "</script><!-- <b> & \u2028"}


def test_word_diff_marks_changed_words_and_escapes():
    a, b = word_diff("Le musée est fermé <b>", "Le musée est fermé le lundi.")
    assert a == 'Le musée est fermé <mark class="del">&lt;b&gt;</mark>'
    assert b == 'Le musée est fermé <mark class="ins">le lundi.</mark>'


def test_samples_are_capped_and_text_clipped(tmp_path, write_jsonl):
    long_answer = "mot " * 1000
    data = [{"instruction": "Translate to French: the same", "input": "", "output": long_answer}] * 30
    finesift.audit(write_jsonl(data), out=tmp_path / "a", checks=["exact_duplicate"])
    html = write_report(tmp_path / "a", sample=5).read_text(encoding="utf-8")
    block = _details(html, "exact_duplicate")
    assert block.count('<div class="ex">') == 5
    assert "29 rows, first 5 shown" in block
    assert long_answer.strip() not in html and "mot mot" in html


def test_page_size_does_not_grow_with_rows(tmp_path):
    small = _data(write_report(write_synthetic_audit(tmp_path / "s", 5_000)).read_text(encoding="utf-8"))
    big = _data(write_report(write_synthetic_audit(tmp_path / "b", 100_000)).read_text(encoding="utf-8"))
    size = lambda d: len(orjson.dumps(d))  # noqa: E731
    # histograms carry bins and the map a capped sample: 20x the rows, about the same data
    assert size(big) < 1.3 * size(small)
    points = sum(len(t.get("x") or []) for c in big["charts"] if c["data"][0].get("mode") == "markers"
                 for t in c["data"])
    assert 0 < points <= 3000  # one map (by issue: no cluster column here), a capped sample of rows


def test_text_comes_back_verified_or_the_page_says_why(audit_dir, tmp_path):
    html = write_report(audit_dir).read_text(encoding="utf-8")
    assert "re-read from" in html and "(content verified)" in html
    src = orjson.loads((audit_dir / "summary.json").read_bytes())["dataset"]["source"]
    with open(src, "ab") as fh:  # same row count, other content: must not be shown as this audit's rows
        fh.truncate(0)
        fh.write(b"".join(orjson.dumps({**r, "output": "changed"}) + b"\n" for r in rows()))
    html = write_report(audit_dir).read_text(encoding="utf-8")
    assert "has changed since this folder was written" in html and ">changed<" not in html


def test_dataset_in_memory_is_used_without_reading_again(tmp_path, write_jsonl):
    path = write_jsonl(rows())
    res = finesift.audit(path, out=tmp_path / "a", checks=CHECKS)
    path.unlink()
    html = write_report(tmp_path / "a", dataset=res.dataset).read_text(encoding="utf-8")
    assert "row text from the data in memory" in html and "Merci beaucoup." in html
    html = write_report(tmp_path / "a").read_text(encoding="utf-8")
    assert "is not there any more" in html


def test_audit_report_uses_the_audit_table_in_memory_and_its_text_in_input_order_uncopied(tmp_path, write_jsonl,
                                                                                          monkeypatch):
    import finesift.report.build as build

    def no_second_read(*args, **kwargs):
        raise AssertionError("audit.parquet read back although the audit table is in memory")

    monkeypatch.setattr(build.pq, "read_table", no_second_read)
    res = finesift.audit(write_jsonl(rows()), out=tmp_path / "a", checks=CHECKS, report=True)
    assert "Merci beaucoup." in (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    texts = build._text_table(res.dataset.table)
    # rows already in input order: the text columns are the dataset's own buffers, not a sorted copy
    assert texts["prompt"].chunks[0].buffers()[2].address == res.dataset.table["prompt"].chunks[0].buffers()[2].address
    shuffled = build._text_table(res.dataset.table.take(pa.array([2, 0, 1])))
    assert shuffled["row"].to_pylist() == [0, 1, 2]


def test_curate_folder_shows_decisions(curate_dir):
    html = write_report(curate_dir).read_text(encoding="utf-8")
    assert detect(curate_dir) == "curate"
    assert _sections(html)[:3] == ["overview", "issues", "decisions"]
    assert "row text from the kept and rejected files" in html
    titles = [str(c["layout"]["title"]["text"]) for c in _data(html)["charts"]]
    assert "rejected rows by reason (a row can have several)" in titles
    assert "quality score of kept and rejected rows" in titles
    dup = _details(html, "exact_duplicate")
    assert '<span class="tag rejected">rejected</span> for exact_duplicate' in dup
    assert "Merci beaucoup." in html


def test_compare_folder(tmp_path):
    folder = write_compare(tmp_path / "cmp")
    html = write_report(folder).read_text(encoding="utf-8")
    assert detect(folder) == "compare"
    assert _sections(html) == ["verdict", "metrics", "loss", "learning-curve", "cost"]
    charts = _data(html)["charts"]
    titles = [c["layout"]["title"]["text"] for c in charts]
    assert "chrf (higher is better)" in titles and "eval_loss (lower is better)" in titles
    bars = next(c for c in charts if c["layout"]["title"]["text"] == "chrf (higher is better)")
    assert bars["data"][0]["error_y"]["array"] == [1.0, 1.0, 1.0]  # interval whiskers
    loss = next(c for c in charts if c["layout"]["title"]["text"].startswith("training loss"))
    assert len([t for t in loss["data"] if t.get("name")]) == 3  # one mean line per arm (not curated@4)
    assert any("generated tokens per eval answer" in t for t in titles)
    assert "recommended size 4" in html


def test_compare_without_run_metrics_says_so(tmp_path):
    html = write_report(write_compare(tmp_path / "cmp", with_runs=False)).read_text(encoding="utf-8")
    assert "No training metrics" in html


def test_map_and_stale_sections(tmp_path):
    folder = write_synthetic_audit(tmp_path / "a", 500, extra={"cluster": pa.array(np.arange(500) % 4, pa.int64())})
    html = write_report(folder).read_text(encoding="utf-8")
    assert {"map", "stale"} <= set(_sections(html))
    charts = _data(html)["charts"]
    titles = [c["layout"]["title"]["text"] for c in charts]
    assert "coloured by cluster" in titles and "coloured by issue (first code of the row)" in titles
    terms = next(c for c in charts if c["layout"]["title"]["text"].startswith("old-era evidence terms"))
    # plotly reads a little HTML in labels: dataset terms reach it escaped
    assert terms["data"][0]["y"] == ["&lt;b&gt;old term&lt;/b&gt;", "&lt;img src=x onerror=\"window.__pwned=1\"&gt;"]
    # the text is not available (the input is gone): the summary's clipped example is used, escaped
    assert "a prompt &lt;script&gt;" in html


def test_embeddings_file_gives_a_map(tmp_path):
    folder = write_synthetic_audit(tmp_path / "a", 200)
    table = pq.read_table(folder / "audit.parquet").drop(["map_x", "map_y"])
    pq.write_table(table, folder / "audit.parquet")
    assert "No embedding map" in write_report(folder).read_text(encoding="utf-8")
    np.save(folder / "embeddings.npy", np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32))
    html = write_report(folder).read_text(encoding="utf-8")
    assert "a PCA projection of embeddings.npy" in html


def test_project_2d_keeps_the_main_directions():
    rng = np.random.default_rng(0)
    emb = np.zeros((1000, 8), dtype=np.float32)
    emb[:, 3] = rng.normal(size=1000) * 10  # the dominant direction
    emb += rng.normal(size=emb.shape).astype(np.float32) * 0.1
    xy = project_2d(emb, sample=300)
    assert xy.shape == (1000, 2) and xy.dtype == np.float32
    assert abs(np.corrcoef(xy[:, 0], emb[:, 3])[0, 1]) > 0.99


def test_project_2d_is_a_pca():
    from sklearn.decomposition import PCA

    emb = np.random.default_rng(1).normal(size=(500, 12)).astype(np.float32) * np.linspace(3, 0.1, 12, dtype=np.float32)
    want = PCA(n_components=2).fit(emb).transform(emb)
    got = project_2d(emb)
    for axis in range(2):  # the same axes up to sign (a PCA axis has no preferred sign)
        assert np.allclose(np.abs(got[:, axis]), np.abs(want[:, axis]), atol=1e-4)
    # the sign comes from the axes (largest loading positive), not the solver: a negated input maps negated
    assert np.allclose(project_2d(-emb), -got, atol=1e-4)


def test_folders_that_are_not_outputs_get_one_clear_error(tmp_path, audit_dir):
    with pytest.raises(InputError, match="no such folder"):
        write_report(tmp_path / "missing")
    with pytest.raises(InputError, match="not a finesift output folder"):
        write_report(tmp_path)
    (audit_dir / "summary.json").unlink()
    with pytest.raises(InputError, match="unfinished run"):
        write_report(audit_dir)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "compare.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        write_report(tmp_path / "bad")
