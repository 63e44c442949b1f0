"""``report.html`` from what an audit, curate or compare folder holds; nothing is scored again.

The folder kind is read from its files: ``compare.json`` (compare), ``audit.parquet`` with a
``decision`` column (curate), ``audit.parquet`` + ``summary.json`` (audit). Row text comes from, in
order: the dataset the caller already has in memory, curate's own ``kept.*``/``rejected.*``, or the
audited input file re-read and verified against the fingerprint in ``summary.json``; without any of
them the page shows the few clipped examples ``summary.json`` holds and says so.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import __version__
from ..errors import FinesiftError, InputError
from ..io.atomic import atomic_open
from . import charts as C
from .page import Page, Section, clip, esc, fmt_num, render, table, word_diff

REPORT = "report.html"
#: example rows shown per issue code (the full lists stay in audit.parquet / rejected.*)
SAMPLE_PER_CODE = 20
#: points drawn on the 2-D embedding map
MAP_POINTS = 3000

#: thresholds a check decides on besides its main one (``Check.threshold``): score column -> (check,
#: parameter, how the check compares)
SECONDARY_THRESHOLDS: dict[str, tuple[str, str, str]] = {
    "echo_output_coverage": ("echo_output", "min_coverage", ">="),
    "echo_output_novel": ("echo_output", "max_novel", "<="),
    "echo_output_new_words": ("echo_output", "max_new_words", "<="),
    "typos_prompt_rate": ("typos", "max_rate", ">="),
    "leakage_cosine": ("leakage", "semantic_threshold", ">="),
    "off_topic_distance": ("off_topic", "min_distance", ">="),
    "stale_pvalue": ("stale", "max_pvalue", "<="),
}


def thresholds() -> dict[str, tuple[str, str, str]]:
    """Score column -> (check, parameter, how the check compares): the threshold drawn on its histogram.

    Every registered check's main threshold comes from its metadata (a new check needs no entry here).
    """
    from ..checks.base import registry

    out = {cls.threshold.column: (name, cls.threshold.param, cls.threshold.op)
           for name, cls in registry().items() if cls.threshold is not None}
    return {**out, **SECONDARY_THRESHOLDS}


_OPS = {">=": "≥", ">": ">", "<": "<", "<=": "≤"}
_NOT_OPS = {">=": "<", ">": "≤", "<": "≥", "<=": ">"}


def _compare(value: float, op: str, threshold: float) -> bool:
    return {">=": value >= threshold, ">": value > threshold, "<": value < threshold, "<=": value <= threshold}[op]
#: group ids, not measurements: never drawn as a distribution
NOT_DISTRIBUTIONS = {"conflict_group"}
#: codes whose partner is a row of this dataset that the row repeats or contradicts
GROUP_CODES = ("exact_duplicate", "near_duplicate", "semantic_duplicate", "conflict")
TEXT_FIELDS = ("system", "prompt", "output")


# --- public entry points ----------------------------------------------------------------------------

def write_report(folder: str | Path, *, dataset=None, table: pa.Table | None = None,
                 sample: int = SAMPLE_PER_CODE) -> Path:
    """Write ``folder/report.html`` from the audit, curate or compare output in ``folder``; return its path.

    ``dataset``: the :class:`~finesift.records.Dataset` the folder was made from, when the caller
    has it in memory (audit and curate do): row text is then not read again.
    ``table``: the table the folder's ``audit.parquet`` holds, when the caller has it in memory (audit
    does): a second copy of it is then not read back (1.5 GB at 5M rows).
    """
    folder = Path(folder)
    t0 = time.perf_counter()
    kind = detect(folder)
    if kind == "compare":
        page = _compare_page(folder)
    else:
        page = _audit_page(_load(folder, kind, dataset, table), sample)
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    page.template = pio.templates["plotly_white"].to_plotly_json()
    page.subtitle += esc(f" · built in {time.perf_counter() - t0:.1f} s by finesift {__version__}")
    out = folder / REPORT
    with atomic_open(out, "w", encoding="utf-8") as fh:
        fh.write(render(page, get_plotlyjs()))
    return out


def detect(folder: Path) -> str:
    """``"audit"``, ``"curate"`` or ``"compare"`` from the files in ``folder``; else one clear error."""
    if not folder.exists():
        raise InputError(str(folder), "no such folder")
    if not folder.is_dir():
        raise InputError(str(folder), "is a file; give the output folder of finesift audit, curate or compare")
    if (folder / "compare.json").is_file():
        return "compare"
    has_audit = (folder / "audit.parquet").is_file()
    if has_audit and (folder / "summary.json").is_file():
        try:
            names = pq.read_schema(folder / "audit.parquet").names
        except Exception as exc:
            raise InputError(str(folder / "audit.parquet"), f"cannot read the audit table: {exc}") from exc
        return "curate" if "decision" in names else "audit"
    if has_audit:
        raise InputError(str(folder), "unfinished run: audit.parquet is there but summary.json is not "
                                      "(re-run the command that writes this folder to finish it)")
    raise InputError(str(folder), "not a finesift output folder",
                     expected="audit.parquet + summary.json (audit, curate) or compare.json (compare)")


def project_2d(embeddings: np.ndarray, *, sample: int = 20_000, seed: int = 0) -> np.ndarray:
    """A cheap 2-D map of row embeddings (PCA fitted on at most ``sample`` rows): ``(n, 2)`` float32.

    Curate stores it as ``map_x``/``map_y`` columns of ``audit.parquet``; the report draws them.
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or len(emb) < 2 or emb.shape[1] < 2:
        return np.zeros((len(emb), 2), dtype=np.float32)
    if not np.any(emb.max(axis=0) > emb.min(axis=0)):  # all rows alike: no direction to map
        return np.zeros((len(emb), 2), dtype=np.float32)
    fit = emb if len(emb) <= sample else emb[np.random.default_rng(seed).choice(len(emb), sample, replace=False)]
    # PCA as the eigenvectors of the (dims x dims) covariance, with numpy: exact, and what scikit-learn's PCA
    # does for tall data, without the ~1.5 s of importing scikit-learn that nothing else in a curate needs
    mean = fit.mean(axis=0, dtype=np.float64)
    centred = fit.astype(np.float64) - mean
    _, vecs = np.linalg.eigh(centred.T @ centred)
    axes = vecs[:, ::-1][:, :2]  # eigh sorts ascending: the two largest
    # an eigenvector's sign is arbitrary: make each axis's largest loading positive, so the map is stable
    flip = np.sign(axes[np.abs(axes).argmax(axis=0), [0, 1]])
    axes = (axes * np.where(flip == 0, 1.0, flip)).astype(np.float32)
    return (emb - mean.astype(np.float32)) @ axes


# --- loading ------------------------------------------------------------------------------------------

def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise InputError(str(path), f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(str(path), "expected a JSON object")
    return data


@dataclass
class Texts:
    """Prompt/answer text by ``row``, and where it came from."""

    table: pa.Table | None = None  # row, system, prompt, output; sorted by row
    note: str = ""
    partial: dict[int, dict[str, str | None]] = field(default_factory=dict)  # summary examples only

    @property
    def full(self) -> bool:
        return self.table is not None

    def get(self, rows: list[int]) -> dict[int, dict[str, str | None]]:
        if self.table is None:
            return {r: self.partial[r] for r in rows if r in self.partial}
        keys = self.table["row"].to_numpy()
        want = np.asarray(sorted(set(int(r) for r in rows if r is not None and r >= 0)), dtype=np.int64)
        if not len(keys) or not len(want):
            return {}
        pos = np.searchsorted(keys, want)
        ok = (pos < len(keys)) & (keys[np.minimum(pos, len(keys) - 1)] == want)
        sub = self.table.take(pa.array(pos[ok], type=pa.int64())).to_pylist()
        return {int(r): d for r, d in zip(want[ok], sub)}

    def words(self, fld: str) -> np.ndarray | None:
        if self.table is None:
            return None
        col = pc.fill_null(self.table[fld], "")
        return np.asarray(pc.count_substring_regex(col, pattern=r"\S+").to_numpy(zero_copy_only=False), dtype=float)


def _text_table(t: pa.Table, rows: np.ndarray | None = None) -> pa.Table:
    cols = {"row": pa.array(np.asarray(t["row"].to_numpy() if rows is None else rows, dtype=np.int64))}
    for f in TEXT_FIELDS:
        cols[f] = t[f] if f in t.column_names else pa.nulls(t.num_rows, pa.string())
    out = pa.table(cols)
    keys = cols["row"].to_numpy()
    if len(keys) < 2 or bool(np.all(keys[1:] > keys[:-1])):
        # an audit's rows are in input order already: sorting would copy all the text (1 GB at 5M rows)
        return out
    return out.take(pc.sort_indices(out["row"]))


@dataclass
class _Run:
    folder: Path
    kind: str
    summary: dict[str, Any]
    table: pa.Table
    texts: Texts
    checks: dict[str, dict[str, Any]]  # code -> description, score_columns, partner_column, cost
    params: dict[str, dict[str, Any]]
    config: dict[str, Any]


def _load(folder: Path, kind: str, dataset, table: pa.Table | None = None) -> _Run:
    summary = _read_json(folder / "summary.json")
    try:
        t = pq.read_table(folder / "audit.parquet") if table is None else table
    except Exception as exc:
        raise InputError(str(folder / "audit.parquet"), f"cannot read the audit table: {exc}") from exc
    for col in ("row", "flags"):
        if col not in t.column_names:
            raise InputError(str(folder / "audit.parquet"), f"not an audit table: no '{col}' column")
    config = summary.get("config") or {}
    if kind == "curate":
        config = config.get("audit") or {}
    params = dict(config.get("params") or {})
    from ..checks.base import registry

    reg = registry()
    codes = list(dict.fromkeys(list((summary.get("checks") or {}).keys()) + list(params) +
                               pc.unique(pc.list_flatten(t["flags"])).to_pylist()))
    checks: dict[str, dict[str, Any]] = {}
    for code in codes:
        info = dict((summary.get("checks") or {}).get(code) or {})
        cls = reg.get(code)
        if cls is not None:
            info.setdefault("description", cls.description)
            info.setdefault("score_columns", dict(cls.score_columns))
            info.setdefault("cost", cls.cost)
            info["partner_column"] = cls.partner_column
        info.setdefault("description", "")
        info.setdefault("score_columns", {})
        info.setdefault("partner_column", None)
        checks[code] = info
    texts = _texts(folder, kind, summary, t, dataset)
    return _Run(folder, kind, summary, t, texts, checks, params, config)


def _texts(folder: Path, kind: str, summary: dict[str, Any], audit: pa.Table, dataset) -> Texts:
    n = audit.num_rows
    if dataset is not None and len(dataset) == n:
        return Texts(_text_table(dataset.table), "row text from the data in memory")
    ds_info = summary.get("dataset") or {}
    field_map = ds_info.get("field_map") or None
    if kind == "curate":
        texts = _curate_texts(folder, summary, audit, field_map)
        if texts is not None:
            return texts
    source = ds_info.get("source")
    why = "no input file is recorded"
    if source and source not in ("-", "<stdin>"):
        path = Path(source)
        if not path.exists():
            why = f"the input {source} is not there any more"
        else:
            from ..io import read
            from ..pipeline import content_fingerprint

            fmt = ds_info.get("format")
            try:
                ds = read(str(path), fmt=fmt if fmt in ("jsonl", "json", "csv", "tsv", "parquet", "hf") else None,
                          field_map=field_map, on_error="skip" if ds_info.get("skipped_records") else "raise")
            except FinesiftError as exc:
                ds, why = None, f"the input {source} could not be read again ({exc})"
            if ds is not None:
                expected = ds_info.get("fingerprint")
                same = (content_fingerprint(ds.table) == expected) if expected else (
                    len(ds) == n and "id" in audit.column_names and ds.table["id"].equals(audit["id"]))
                if same and len(ds) == n:
                    return Texts(_text_table(ds.table), f"row text re-read from {source} (content verified)")
                why = f"the input {source} has changed since this folder was written"
    partial: dict[int, dict[str, str | None]] = {}
    for examples in (summary.get("examples") or {}).values():
        for ex in examples:
            partial[int(ex["row"])] = {"row": ex["row"], "system": None, "prompt": ex.get("prompt"),
                                       "output": ex.get("output")}
    return Texts(None, f"row text is not available ({why}): only the examples summary.json keeps are shown, "
                       "clipped", partial)


def _curate_texts(folder: Path, summary: dict[str, Any], audit: pa.Table, field_map) -> Texts | None:
    """Text from curate's own kept.*/rejected.*: the i-th record of kept.* is the i-th kept row."""
    from ..io import read

    files = summary.get("files") or {}
    decision = np.asarray(audit["decision"].to_pylist(), dtype=object)
    rows = audit["row"].to_numpy()
    parts = []
    for name in ("kept", "rejected"):
        want = rows[decision == name]
        if not len(want):
            continue
        fname = files.get(name)
        path = folder / fname if fname else None
        if path is None or not path.exists():
            return None
        try:
            ds = read(str(path), field_map=field_map)
        except FinesiftError:
            return None
        if len(ds) != len(want):
            return None
        parts.append(_text_table(ds.table, want))
    if not parts:
        return None
    both = pa.concat_tables(parts)
    return Texts(both.take(pc.sort_indices(both["row"])), "row text from the kept and rejected files")


# --- audit and curate pages -----------------------------------------------------------------------

def _col(t: pa.Table, name: str) -> np.ndarray:
    return t[name].to_numpy(zero_copy_only=False)


def _is_numeric(t: pa.Table, name: str) -> bool:
    typ = t.schema.field(name).type
    return pa.types.is_integer(typ) or pa.types.is_floating(typ)


def _threshold(run: _Run, col: str) -> tuple[float, str, str] | None:
    spec = thresholds().get(col)
    if spec is None:
        return None
    check, param, op = spec
    val = (run.params.get(check) or {}).get(param)
    if val is None and param == "max_tokens":
        val = run.config.get("max_tokens")
    if not isinstance(val, (int, float)) or isinstance(val, bool):
        return None
    return float(val), op, param


def _codes(run: _Run) -> tuple[list[str], dict[str, int]]:
    vc = pc.value_counts(pc.list_flatten(run.table["flags"]))
    counts = dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()))
    order = [c for c in run.checks] + [c for c in counts if c not in run.checks]
    return order, {c: int(counts.get(c, 0)) for c in order}


def _audit_page(run: _Run, sample: int) -> Page:
    s = run.summary
    ds = s.get("dataset") or {}
    name = Path(str(ds.get("source") or run.folder)).name
    title = f"finesift {run.kind} report: {name}"
    sub = esc(f"{run.folder} · input {ds.get('source')} ({ds.get('format')}, {ds.get('shape')}) · "
              f"{run.table.num_rows:,} rows")
    page = Page(title, sub)
    codes, counts = _codes(run)
    masks = {c: _has_flag(run.table, c) for c in codes}
    page.sections.append(_overview(run, counts, masks))
    page.sections.append(_issues(page, run, codes, counts, masks))
    if run.kind == "curate":
        page.sections.append(_decisions(page, run, codes, masks))
    page.sections.append(_examples(run, codes, counts, masks, sample))
    page.sections.append(_distributions(page, run))
    groups = _groups(page, run, masks)
    if groups is not None:
        page.sections.append(groups)
    page.sections.append(_map(page, run))
    stale = _stale(page, run, masks)
    if stale is not None:
        page.sections.append(stale)
    return page


def _has_flag(t: pa.Table, code: str) -> np.ndarray:
    from ..records import has_flag

    return has_flag(t["flags"], code)


def _card(value: Any, key: str, cls: str = "") -> str:
    return (f'<div class="card {esc(cls)}"><div class="v">{esc(fmt_num(value))}</div>'
            f'<div class="k">{esc(key)}</div></div>')


def _overview(run: _Run, counts: dict[str, int], masks: dict[str, np.ndarray]) -> Section:
    s = run.summary
    ds = s.get("dataset") or {}
    n = run.table.num_rows
    flagged = int(np.any(np.vstack(list(masks.values())), axis=0).sum()) if masks and n else 0
    cards = [_card(n, "rows")]
    if run.kind == "curate":
        c = s.get("counts") or {}
        cards += [_card(c.get("kept"), "kept", "good"), _card(c.get("rejected"), "rejected", "bad"),
                  _card(c.get("filtered"), "rejected for an issue"),
                  _card(c.get("not_selected"), "cut by the target size")]
        q = s.get("quality") or {}
        if q.get("kept_mean") is not None:
            cards.append(_card(round(q["kept_mean"], 3), "mean quality kept"))
    else:
        st = s.get("stats") or {}
        cards += [_card(st.get("unique_rows"), "unique rows"),
                  _card(st.get("effective_rows"), "effective size after dedup")]
    cards.append(_card(flagged, f"rows with an issue ({flagged / n:.1%})" if n else "rows with an issue",
                       "bad" if flagged else "good"))
    body = f'<div class="cards">{"".join(cards)}</div>'
    facts = [["input", esc(ds.get("source"))], ["format, shape", esc(f"{ds.get('format')}, {ds.get('shape')}")],
             ["folder", esc(run.folder)], ["text shown", esc(run.texts.note)]]
    if ds.get("skipped_records"):
        facts.append(["malformed records skipped", esc(f"{ds['skipped_records']} (listed in skipped.jsonl)")])
    for w in ds.get("warnings") or []:
        facts.append(["warning", esc(w)])
    secs = (s.get("seconds") or {}).get("total")
    if secs is not None:
        facts.append(["run time", esc(f"{secs:.1f} s")])
    body += table(["", ""], facts, "facts")
    return Section("overview", "Overview", body)


def _issues(page: Page, run: _Run, codes: list[str], counts: dict[str, int], masks: dict[str, np.ndarray]) -> Section:
    sec = Section("issues", "Issues found")
    n = run.table.num_rows
    curate = run.kind == "curate"
    drop = set(((run.summary.get("config") or {}).get("recipe") or {}).get("drop") or []) if curate else set()
    rejected = (_col(run.table, "decision") == "rejected") if curate else None
    rows = []
    for code in codes:
        info = run.checks.get(code, {})
        cols = []
        for col, desc in (info.get("score_columns") or {}).items():
            th = _threshold(run, col) if thresholds().get(col, ("",))[0] == code else None
            th_txt = f" (flagged {_OPS[th[1]]} {th[0]:g}: {th[2]})" if th else ""
            cols.append(f"<div><code>{esc(col)}</code>{esc(th_txt)}: {esc(desc)}</div>")
        cnt = counts.get(code, 0)
        link = f'<a href="#ex-{esc(code)}">{esc(code)}</a>' if cnt else esc(code)
        row = [f"<b>{link}</b>", f'<span class="num">{cnt:,}</span>', esc(f"{cnt / n:.2%}" if n else "–"),
               esc(info.get("description")), "".join(cols)]
        if curate:
            m = masks[code]
            rule = "dropped by the recipe" if code in drop else "lowers quality only"
            row.insert(3, esc(f"{int((m & rejected).sum()):,} rejected, {int((m & ~rejected).sum()):,} kept ({rule})"
                              if cnt else rule))
        rows.append(row)
    headers = ["code", "rows", "share", "what it means", "scores (range, direction)"]
    if curate:
        headers.insert(3, "decision")
    sec.body = table(headers, rows, "issues")
    shown = [c for c in codes if counts.get(c)]
    if shown:
        spec = C.figure(C.hbar(shown, [counts[c] for c in shown], "rows per issue code",
                               hover=[run.checks.get(c, {}).get("description", "") for c in shown]))
        sec.body = page.chart(sec, spec, "chart wide") + sec.body
    else:
        sec.body = '<p class="note">No issue found in any row.</p>' + sec.body
    return sec


def _decisions(page: Page, run: _Run, codes: list[str], masks: dict[str, np.ndarray]) -> Section:
    sec = Section("decisions", "Kept vs rejected")
    s = run.summary
    c = s.get("counts") or {}
    parts = []
    by_reason = c.get("rejected_by_reason") or {}
    if by_reason:
        order = sorted(by_reason, key=lambda k: -by_reason[k])
        parts.append(page.chart(sec, C.figure(C.hbar(order, [by_reason[k] for k in order],
                                                     "rejected rows by reason (a row can have several)",
                                                     color=C.REJECTED_COLOR))))
    rejected = _col(run.table, "decision") == "rejected"
    flagged = [code for code in codes if masks[code].any()]
    if flagged:
        parts.append(page.chart(sec, C.figure(C.stacked_hbar(
            flagged, {"rejected": [int((masks[k] & rejected).sum()) for k in flagged],
                      "kept": [int((masks[k] & ~rejected).sum()) for k in flagged]},
            {"kept": C.KEPT_COLOR, "rejected": C.REJECTED_COLOR}, "rows with each issue: kept or rejected"))))
    if "quality" in run.table.column_names:
        q = _col(run.table, "quality").astype(float)
        fig = C.overlaid_histograms({"kept": q[~rejected], "rejected": q[rejected]},
                                    {"kept": C.KEPT_COLOR, "rejected": C.REJECTED_COLOR},
                                    "quality score of kept and rejected rows", "quality (0..1)")
        if fig is not None:
            parts.append(page.chart(sec, C.figure(fig)))
    clusters = (s.get("coverage") or {}).get("clusters") or []
    if clusters:
        import plotly.graph_objects as go

        names = [str(cl["cluster"]) for cl in clusters]
        hover = [C.label(clip(cl.get("example"), 90)) for cl in clusters]
        fig = go.Figure([go.Bar(x=names, y=[cl["pool"] for cl in clusters], name="candidate pool",
                                marker={"color": "#9fb3c8"}, hovertext=hover,
                                hovertemplate="cluster %{x}: %{y} in the pool<br>%{hovertext}<extra></extra>"),
                         go.Bar(x=names, y=[cl["kept"] for cl in clusters], name="kept", marker={"color": C.KEPT_COLOR},
                                hovertext=hover,
                                hovertemplate="cluster %{x}: %{y} kept<br>%{hovertext}<extra></extra>")])
        fig.update_layout(**C.layout("rows per cluster: candidate pool and kept", barmode="group", showlegend=True,
                                           xaxis={"title": {"text": "cluster"}, "type": "category"},
                                           yaxis={"title": {"text": "rows"}}))
        parts.append(page.chart(sec, C.figure(fig), "chart wide"))
    body = f'<div class="grid">{"".join(p for p in parts if p)}</div>'
    sel = s.get("selection") or {}
    div = s.get("diversity") or {}
    facts = [["selection", esc(f"{sel.get('method') or 'none (no target size)'}; target {fmt_num(sel.get('target'))}, "
                               f"pool {fmt_num(sel.get('pool'))}, selected {fmt_num(sel.get('selected'))}")]]
    cov = s.get("coverage") or {}
    if cov:
        facts.append(["clusters", esc(f"{fmt_num(cov.get('clusters_kept'))} of {fmt_num(cov.get('clusters_in_pool'))} "
                                      "clusters of the pool keep at least one row")])
    for k in ("raw", "pool", "kept"):
        if k in div:
            d = div[k]
            facts.append([f"diversity, {k}", esc(f"{fmt_num(d.get('rows'))} rows, {fmt_num(d.get('clusters_covered'))} "
                                                 "clusters, mean pairwise distance "
                                                 f"{fmt_num(d.get('mean_pairwise_distance'))}")])
    body += table(["", ""], facts, "facts")
    sec.body = body
    return sec


def _reason_chips(run: _Run, code: str, rec: dict[str, Any]) -> str:
    chips = []
    for col in (run.checks.get(code, {}).get("score_columns") or {}):
        if col not in rec:
            continue
        val = rec[col]
        th = _threshold(run, col) if thresholds().get(col, ("",))[0] == code else None
        if th is not None and isinstance(val, (int, float)) and not isinstance(val, bool):
            # the comparisons that hold are what flagged the row; the others are context
            hit = _compare(float(val), th[1], th[0])
            sign = _OPS[th[1]] if hit else _NOT_OPS[th[1]]
            chips.append(f'<span class="why{" hit" if hit else ""}">{esc(col)} {esc(fmt_num(val))} {esc(sign)} '
                         f'{esc(f"{th[0]:g}")}</span>')
        elif val is not None and val != []:
            chips.append(f'<span class="why">{esc(col)} {esc(fmt_num(val))}</span>')
    return "".join(chips)


def _side(title: str, rec: dict[str, Any] | None, other: dict[str, Any] | None, *, right: bool = False) -> str:
    """One row's fields; with ``other``, the words that differ from it are marked (left: removed, right: added)."""
    if rec is None:
        return f'<div class="side"><h5>{esc(title)}</h5><p class="note">text not available</p></div>'
    out = [f'<div class="side"><h5>{esc(title)}</h5>']
    for fld, lbl in (("system", "system"), ("prompt", "prompt"), ("output", "answer")):
        text = clip(rec.get(fld))
        if fld == "system" and not text and not (other or {}).get("system"):
            continue
        if other is not None:
            shown = word_diff(clip(other.get(fld)), text)[1] if right else word_diff(text, clip(other.get(fld)))[0]
        else:
            shown = esc(text)
        out.append(f'<div class="lbl">{lbl}</div><pre class="t">{shown or "<i>(empty)</i>"}</pre>')
    out.append("</div>")
    return "".join(out)


def _examples(run: _Run, codes: list[str], counts: dict[str, int], masks: dict[str, np.ndarray], cap: int) -> Section:
    sec = Section("examples", "Examples per issue")
    t = run.table
    rows_col = _col(t, "row")
    picks = {c: np.flatnonzero(masks[c])[:cap] for c in codes if counts.get(c)}
    positions = sorted({int(i) for idx in picks.values() for i in idx})
    recs = dict(zip(positions, t.take(pa.array(positions, type=pa.int64())).to_pylist())) if positions else {}
    partner_of: dict[tuple[str, int], int | None] = {}
    for code, idx in picks.items():
        pcol = run.checks.get(code, {}).get("partner_column")
        for i in idx:
            p = recs[int(i)].get(pcol) if pcol and code != "leakage" else None
            partner_of[(code, int(i))] = p
    want = [int(rows_col[i]) for i in positions] + [p for p in partner_of.values() if p is not None]
    text = run.texts.get(want)
    parts = [f'<p class="note">Up to {cap} rows per issue code, text clipped to 600 characters; words that differ from '
             f'the partner row are highlighted. {esc(run.texts.note)}. The full lists are in '
             f'<code>audit.parquet</code>{" and <code>rejected.*</code>" if run.kind == "curate" else ""}.</p>']
    if not picks:
        parts.append('<p class="note">No row has an issue.</p>')
    if picks:
        parts.append('<p><button type="button" id="toggle-examples">open all</button></p>')
    for k, (code, idx) in enumerate(picks.items()):
        info = run.checks.get(code, {})
        items = []
        for i in idx:
            rec = recs[int(i)]
            row = int(rec["row"])
            partner = partner_of[(code, int(i))]
            head = [f"<b>row {row}</b>"]
            if rec.get("id") is not None:
                head.append(f"id {esc(clip(str(rec['id']), 60))}")
            head.append("flags: " + esc(", ".join(rec.get("flags") or [])))
            if run.kind == "curate":
                dec = rec.get("decision")
                head.append(f'<span class="tag {esc(dec)}">{esc(dec)}</span>' +
                            (esc(" for " + ", ".join(rec.get("reasons") or [])) if rec.get("reasons") else ""))
                if rec.get("kept_instead") is not None:
                    head.append(f"kept instead: row {esc(rec['kept_instead'])}")
                if rec.get("quality") is not None:
                    head.append(f"quality {esc(fmt_num(rec['quality']))}")
            if code == "leakage" and rec.get("leakage_of") is not None:
                head.append(f"matches row {esc(rec['leakage_of'])} of the evaluation file")
            chips = _reason_chips(run, code, rec)
            mine = text.get(row)
            if partner is not None:
                theirs = text.get(int(partner))
                rel = "kept member of its group" if code in GROUP_CODES else "example of the usual form"
                body = ('<div class="pair">' + _side(f"row {row}", mine, theirs) +
                        _side(f"row {partner} ({rel})", theirs, mine, right=True) + "</div>")
            else:
                body = _side(f"row {row}", mine, None)
            items.append(f'<div class="ex"><div class="ex-head">{" · ".join(head)}</div>'
                         f"<div>{chips}</div>{body}</div>")
        more = f", first {len(idx)} shown" if counts[code] > len(idx) else ""
        noun = "row" if counts[code] == 1 else "rows"
        parts.append(f'<details class="issue" id="ex-{esc(code)}"{" open" if k < 2 else ""}>'
                     f"<summary>{esc(code)}: {counts[code]:,} {noun}{esc(more)} — {esc(info.get('description'))}"
                     "</summary>"
                     f'<div class="inner">{"".join(items)}</div></details>')
    sec.body = "".join(parts)
    return sec


def _distributions(page: Page, run: _Run) -> Section:
    sec = Section("distributions", "Length and score distributions")
    t = run.table
    parts = ['<h3>Lengths</h3>']
    charts = []
    for fld, lbl in (("prompt", "prompt"), ("output", "answer")):
        words = run.texts.words(fld)
        if words is not None:
            h = C.histogram(words, integer=True)
            if h:
                charts.append(page.chart(sec, C.figure(C.histogram_figure(h, f"{lbl} length (words)", xlabel="words"))))
    for col, lbl in (("too_long_prompt_tokens", "prompt tokens"), ("too_long_output_tokens", "answer tokens"),
                     ("too_long_total_tokens", "system + prompt + answer tokens")):
        if col in t.column_names:
            h = C.histogram(_col(t, col).astype(float), integer=True)
            th = _threshold(run, col)
            if h:
                charts.append(page.chart(sec, C.figure(C.histogram_figure(
                    h, lbl, threshold=th[0] if th else None, threshold_label="token budget", xlabel="tokens",
                    color=C.PALETTE[1]))))
    if not charts:
        lengths = ((run.summary.get("stats") or (run.summary.get("audit") or {}).get("stats") or {})
                   .get("lengths") or {})
        rows = [[esc(f"{f} {unit}"), *[esc(fmt_num(v.get(k))) for k in ("mean", "p50", "p95", "max")]]
                for f, units in lengths.items() for unit, v in units.items()]
        if rows:
            parts.append('<p class="note">Row text is not available here, so only the summary figures are shown.</p>')
            parts.append(table(["length", "mean", "median", "p95", "max"], rows))
    parts.append(f'<div class="grid">{"".join(charts)}</div>')
    parts.append("<h3>Scores, with the threshold each check flags at</h3>")
    flat = []
    skipped = []
    shown_cols = {"too_long_prompt_tokens", "too_long_output_tokens", "too_long_total_tokens"}
    for code, info in run.checks.items():
        for col, desc in (info.get("score_columns") or {}).items():
            if col in shown_cols or col in NOT_DISTRIBUTIONS or col not in t.column_names or not _is_numeric(t, col):
                continue
            vals = _col(t, col).astype(float)
            finite = vals[np.isfinite(vals)]
            if not len(finite):
                skipped.append(f"<code>{esc(col)}</code>: not scored for any row")
                continue
            if finite.min() == finite.max():
                skipped.append(f"<code>{esc(col)}</code>: {esc(fmt_num(float(finite[0])))} for every scored row")
                continue
            typ = t.schema.field(col).type
            h = C.histogram(finite, integer=pa.types.is_integer(typ))
            spec = thresholds().get(col)
            th = _threshold(run, col) if spec and spec[0] == code else None
            title = f"{col}"
            fig = C.histogram_figure(h, title, threshold=th[0] if th else None,
                                     threshold_label=th[2] if th else "threshold")
            flat.append(f'<div class="fig">{page.chart(sec, C.figure(fig))}<div class="cap">{esc(code)}: '
                        f'{esc(desc)}</div></div>')
    parts.append(f'<div class="grid">{"".join(flat)}</div>')
    if skipped:
        parts.append('<p class="note">Not drawn: ' + "; ".join(skipped) + ".</p>")
    sec.body = "".join(parts)
    return sec


def _groups(page: Page, run: _Run, masks: dict[str, np.ndarray]) -> Section | None:
    t = run.table
    sizes: dict[str, np.ndarray] = {}
    largest: list[tuple[str, int, int]] = []
    for code in GROUP_CODES:
        if code not in masks:
            continue
        if code == "conflict":
            if "conflict_group" not in t.column_names:
                continue
            g = _col(t, "conflict_group").astype(float)
            g = g[np.isfinite(g)].astype(np.int64)
            if not len(g):
                continue
            keys, cnt = np.unique(g, return_counts=True)
            keep = cnt > 1
            keys, cnt = keys[keep], cnt[keep]
        else:
            pcol = run.checks.get(code, {}).get("partner_column")
            if not pcol or pcol not in t.column_names or not masks[code].any():
                continue
            p = _col(t, pcol).astype(float)[masks[code]]
            p = p[np.isfinite(p)].astype(np.int64)
            keys, cnt = np.unique(p, return_counts=True)
            cnt = cnt + 1  # the kept member itself
        if not len(cnt):
            continue
        sizes[code] = cnt
        for j in np.argsort(-cnt, kind="stable")[:5]:
            largest.append((code, int(keys[j]), int(cnt[j])))
    if not sizes:
        return None
    sec = Section("groups", "Duplicate and conflict groups")
    chart = page.chart(sec, C.figure(C.group_sizes_figure(sizes)), "chart wide")
    text = run.texts.get([r for _, r, _ in largest])
    rows = []
    for code, key, size in largest:
        rec = text.get(key) or {}
        rows.append([esc(code), f'<span class="num">{size:,}</span>', esc(key),
                     f'<pre class="t">{esc(clip(rec.get("prompt"), 160))}</pre>',
                     f'<pre class="t">{esc(clip(rec.get("output"), 160))}</pre>'])
    totals = [f"{esc(code)}: {len(s):,} groups, {int(s.sum()):,} rows" for code, s in sizes.items()]
    sec.body = (chart + '<p class="note">' + "; ".join(totals) + ". Conflict groups are rows sharing (nearly) the same "
                "prompt; their size counts every member.</p><h3>Largest groups</h3>"
                + table(["code", "rows", "kept row / group id", "prompt", "answer"], rows))
    return sec


def _map(page: Page, run: _Run) -> Section:
    sec = Section("map", "Embedding map")
    t = run.table
    xy = None
    source = ""
    if "map_x" in t.column_names and "map_y" in t.column_names:
        xy = np.stack([_col(t, "map_x").astype(float), _col(t, "map_y").astype(float)], axis=1)
        source = "the 2-D coordinates stored in audit.parquet"
    elif (run.folder / "embeddings.npy").is_file():
        try:
            emb = np.load(run.folder / "embeddings.npy", mmap_mode="r")
        except (OSError, ValueError):
            emb = None
        if emb is not None and emb.ndim == 2 and len(emb) == t.num_rows:
            xy = project_2d(np.asarray(emb))
            source = "a PCA projection of embeddings.npy"
    if xy is None:
        sec.body = ('<p class="note">No embedding map: this folder stores neither 2-D coordinates '
                    "(<code>map_x</code>/<code>map_y</code> in audit.parquet) nor embedding vectors "
                    "(<code>embeddings.npy</code>), and the report does not compute embeddings again.</p>")
        return sec
    n = t.num_rows
    ok = np.flatnonzero(np.isfinite(xy).all(axis=1))
    pick = ok if len(ok) <= MAP_POINTS else np.sort(np.random.default_rng(0).choice(ok, MAP_POINTS, replace=False))
    flags = t["flags"].take(pa.array(pick, type=pa.int64())).to_pylist()
    by_flag = np.asarray([f[0] if f else "no issue" for f in flags], dtype=object)
    rows = _col(t, "row")[pick]
    text = run.texts.get(rows.tolist())
    hover = [C.label(f"row {r}: " + clip((text.get(int(r)) or {}).get("prompt") or "", 80)) for r in rows]
    parts = []
    if "cluster" in t.column_names:
        cl = _col(t, "cluster").astype(float)[pick]
        groups = np.asarray([f"cluster {int(c)}" if np.isfinite(c) else "no cluster" for c in cl], dtype=object)
        parts.append(page.chart(sec, C.figure(C.scatter_map(xy[pick, 0], xy[pick, 1], groups, "coloured by cluster",
                                                            hover))))
    parts.append(page.chart(sec, C.figure(C.scatter_map(xy[pick, 0], xy[pick, 1], by_flag,
                                                        "coloured by issue (first code of the row)", hover))))
    sec.body = (f'<p class="note">{len(pick):,} of {n:,} rows, from {esc(source)}.</p>'
                f'<div class="grid">{"".join(parts)}</div>')
    return sec


def _stale(page: Page, run: _Run, masks: dict[str, np.ndarray]) -> Section | None:
    t = run.table
    if "stale_terms" not in t.column_names:
        return None
    sec = Section("stale", "Era drift (stale)")
    mask = masks.get("stale")
    basis = "rows flagged stale"
    if mask is None or not mask.any():
        if "stale_score" not in t.column_names:
            return None
        score = np.nan_to_num(_col(t, "stale_score").astype(float), nan=-1.0)
        top = np.argsort(-score, kind="stable")[: max(1, min(200, t.num_rows // 100 or 1))]
        mask = np.zeros(t.num_rows, dtype=bool)
        mask[top[score[top] >= 0]] = True
        basis = f"no row is flagged stale; the {int(mask.sum())} highest-scoring rows"
    terms = Counter()
    for lst in t["stale_terms"].filter(pa.array(mask)).to_pylist():
        terms.update(lst or [])
    parts = []
    if terms:
        top_terms = terms.most_common(25)
        parts.append(page.chart(sec, C.figure(C.hbar([k for k, _ in top_terms], [v for _, v in top_terms],
                                                     f"old-era evidence terms ({basis})", color=C.PALETTE[4]))))
    else:
        parts.append('<p class="note">No evidence terms recorded.</p>')
    if "stale_era" in t.column_names:
        eras = Counter(t["stale_era"].to_pylist())
        parts.append(table(["era (from metadata)", "rows"], [[esc(k), f'<span class="num">{v:,}</span>'] for k, v
                                                             in eras.most_common()]))
    sec.body = "".join(parts)
    return sec


# --- compare page -------------------------------------------------------------------------------------

def _loss_curve(path: Path, max_points: int = 400) -> list[tuple[int, float]]:
    """Train loss per step from metrics.jsonl (the last attempt that reached a step wins), thinned."""
    by_step: dict[int, float] = {}
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            m = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a line cut by a killed run
        if isinstance(m, dict) and m.get("kind") == "train" and isinstance(m.get("loss"), (int, float)) \
                and math.isfinite(m["loss"]) and isinstance(m.get("step"), int):
            by_step[m["step"]] = float(m["loss"])
    pts = sorted(by_step.items())
    if len(pts) > max_points:
        step = math.ceil(len(pts) / max_points)
        pts = pts[::step] + ([pts[-1]] if (len(pts) - 1) % step else [])
    return pts


def _run_dir(folder: Path, run: dict[str, Any], arm: str) -> Path:
    d = Path(str(run.get("run_dir") or ""))
    if d.is_dir():
        return d
    return folder / "runs" / (d.name or f"{arm}-seed{run.get('seed')}")


def _compare_page(folder: Path) -> Page:
    rep = _read_json(folder / "compare.json")
    arms: dict[str, Any] = rep.get("arms") or {}
    if not arms:
        raise InputError(str(folder / "compare.json"), "no arms in this comparison")
    main_arms = [a for a in arms if "@" not in a]
    page = Page(f"finesift compare report: {', '.join(main_arms)}", esc(f"{folder} · eval "
                                                                       f"{(rep.get('eval') or {}).get('source')}"))
    # summary
    sec = Section("verdict", "Verdict")
    verdict = rep.get("verdict") or {}
    rows = []
    for a in main_arms:
        info = arms[a]
        nums = [info.get("rows"), info.get("epoch_tokens"), info.get("max_steps"),
                (info.get("tokens") or {}).get("mean"), (info.get("seconds") or {}).get("mean"),
                len(info.get("runs") or [])]
        rows.append([f"<b>{esc(a)}</b>", esc(clip(str(info.get("data")), 80))]
                    + [f'<span class="num">{esc(fmt_num(v))}</span>' for v in nums])
    budget = rep.get("budget") or {}
    ev = rep.get("eval") or {}
    sec.body = (f'<p class="verdict">{esc(verdict.get("text") or "no verdict")}</p>'
                + table(["arm", "data", "rows", "tokens per epoch", "steps per run", "training tokens per run",
                         "training seconds per run", "seeds"], rows)
                + '<p class="note">' + esc(f"budget: {budget.get('kind')}; eval: {ev.get('items')} items, "
                                           f"{ev.get('references_per_item')} references per item, up to "
                                           f"{ev.get('max_new_tokens')} new tokens") + "</p>")
    page.sections.append(sec)
    # metrics
    sec = Section("metrics", "Metrics (mean over seeds, 95% interval, one dot per seed)")
    metrics = list(dict.fromkeys(m for a in main_arms for m in (arms[a].get("metrics") or {})))
    base = (rep.get("baseline") or {}).get("metrics") or {}
    try:
        from ..train.config import METRICS
    except Exception:  # pragma: no cover - the train package is part of finesift
        METRICS = {}
    parts = []
    for m in metrics:
        vals = [(arms[a].get("metrics") or {}).get(m) or {} for a in main_arms]
        direction = {True: " (higher is better)", False: " (lower is better)"}.get(METRICS.get(m), "")
        parts.append(page.chart(sec, C.figure(C.interval_bars(
            main_arms, [v.get("mean") for v in vals], [v.get("ci95") for v in vals],
            [v.get("values") or [] for v in vals], m + direction, baseline=base.get(m), ylabel=m))))
    diff_rows = []
    for pair, diffs in (rep.get("differences") or {}).items():
        for m, d in diffs.items():
            ci = d.get("ci95")
            mean = d.get("mean")
            mean_txt = f"{mean:+.4g}" if isinstance(mean, (int, float)) else "–"
            diff_rows.append([esc(pair), esc(m), f'<span class="num">{esc(mean_txt)}</span>',
                              esc(f"[{ci[0]:+.4g}, {ci[1]:+.4g}]" if ci else "–"), esc(fmt_num(d.get("p_value"))),
                              esc("yes" if d.get("excludes_zero") else "no"), esc(d.get("method") or "")])
    sec.body = (f'<div class="grid">{"".join(parts)}</div><h3>Paired differences</h3>'
                + table(["pair", "metric", "mean", "95% interval", "p", "interval excludes 0", "method"], diff_rows))
    page.sections.append(sec)
    # loss curves
    sec = Section("loss", "Loss curves")
    curves = {a: [_loss_curve(_run_dir(folder, r, a) / "metrics.jsonl") for r in arms[a].get("runs") or []]
              for a in main_arms}
    if any(c for runs in curves.values() for c in runs):
        sec.body = page.chart(sec, C.figure(C.loss_curves(curves, "training loss per arm (thin: seeds, thick: mean)")),
                              "chart wide")
    else:
        sec.body = '<p class="note">No training metrics (runs/*/metrics.jsonl) are in this folder.</p>'
    page.sections.append(sec)
    # learning curve
    curve = rep.get("learning_curve")
    if curve and curve.get("points"):
        sec = Section("learning-curve", "Learning curve")
        sec.body = (page.chart(sec, C.figure(C.learning_curve(curve["points"], str(curve.get("metric")),
                                                              curve.get("recommended_size"))), "chart wide")
                    + '<p class="note">' + esc(f"recommended size {curve.get('recommended_size')}: "
                                               f"{curve.get('rule')}; best size {curve.get('best_size')}") + "</p>")
        page.sections.append(sec)
    # inference and training cost
    sec = Section("cost", "Cost: training and inference")
    parts = []
    for key, title in (("tokens_per_answer", "generated tokens per eval answer"),
                       ("seconds_per_answer", "generation seconds per eval answer"),
                       ("capped_share", "share of answers that hit max_new_tokens")):
        vals = [(arms[a].get("inference") or {}).get(key) or {} for a in main_arms]
        if any(v.get("mean") is not None for v in vals):
            parts.append(page.chart(sec, C.figure(C.interval_bars(
                main_arms, [v.get("mean") for v in vals], [v.get("ci95") for v in vals],
                [v.get("values") or [] for v in vals], title + " (lower is cheaper)"))))
    for key, title in (("tokens", "training tokens per run"), ("seconds", "training seconds per run")):
        vals = [arms[a].get(key) or {} for a in main_arms]
        if any(v.get("mean") is not None for v in vals):
            parts.append(page.chart(sec, C.figure(C.interval_bars(
                main_arms, [v.get("mean") for v in vals], [v.get("ci95") for v in vals],
                [v.get("values") or [] for v in vals], title))))
    sec.body = f'<div class="grid">{"".join(parts)}</div>' if parts else '<p class="note">No cost figures recorded.</p>'
    page.sections.append(sec)
    return page
