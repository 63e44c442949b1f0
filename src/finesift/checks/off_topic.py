"""``off_topic``: the row is far from every task the dataset is about.

A translation dataset with a cookie recipe in it; a support-bot dataset with a
poem. The tasks are learnt from the data itself: the row embeddings
(``prompt + "\\n" + output``) are clustered with k-means (seeded; k = sqrt(n)/2,
2..100), and a cluster counts as a *task* when it holds at least
``min_task_share`` of an average cluster (and ``min_task_rows`` rows): a handful
of stray rows forming their own little cluster is not a task.

Scores:

* ``off_topic_distance`` (0..2, higher = further from the tasks):
  1 - cosine to the nearest task centroid.
* ``off_topic_z`` (higher = more unusual for this dataset): the robust z-score
  of that distance, ``(d - median) / (1.4826 * MAD)``, so the threshold adapts
  to how spread out the dataset's own tasks are. Null below ``min_rows`` rows.

A row is flagged when ``off_topic_z >= max_z`` *and* ``off_topic_distance >=
min_distance``: the absolute floor keeps a very homogeneous dataset (tiny MAD)
from flagging rows that are only slightly different.

Defaults measured with the static embeddings: a recipe, a weather and a
cooking question added to Tatoeba "Translate to French" rows score distance
0.64-0.79 (z 7.8-9.5 among 200 or 2,000 rows; z > 40 among 300 Bitext support
rows), while clean rows stay below 0.50 (Tatoeba 2,000: max 0.45; GPTeacher
Toolformer: max 0.41; Bitext: max 0.08). Dolly, a deliberately diverse set,
reaches distance 0.77 but z <= 4.2. Hence ``max_z`` 4.5 (above the classic 3.5
modified-z cut: distances are right-skewed) and ``min_distance`` 0.55. All five
sets are quiet; the three questions are flagged in both Tatoeba mixes and the
Bitext mix.

Protocol: the embeddings are the ``embedding`` feature. The state is each row's ``row`` and
embedding (k-means samples rows from the whole dataset, and the z-score's median is over every
row's distance); ``finalize`` clusters once and scores every row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..models.embeddings import embedding_matrix
from ._stats import MAD_SCALE, robust_z
from .base import (
    CheckParams,
    DatasetCheck,
    Score,
    Threshold,
    batch_positions,
    decision,
    register,
)

#: smallest MAD used for the z-score: a dataset of near-identical rows would otherwise flag any variation
MIN_MAD = 0.01


class OffTopicParams(CheckParams):
    max_z: float = decision(4.5)
    """Flag rows whose robust z-score of distance is at least this."""
    min_distance: float = decision(0.55)
    """... and whose distance to the nearest task centroid is at least this (0..2)."""
    k: int | None = None
    """Clusters; default sqrt(rows)/2, between 2 and 100."""
    min_task_share: float = 0.25
    """A cluster is a task when it holds at least this fraction of an average cluster (rows/k) ..."""
    min_task_rows: int = 5
    """... and at least this many rows."""
    min_rows: int = 20
    """Datasets smaller than this have no tasks to learn: nothing is flagged."""


@register
class OffTopic(DatasetCheck):
    name = "off_topic"
    description = "The row is far from every task (embedding cluster) of the dataset."
    cost = "model"
    scores = {
        "off_topic_distance": Score(
            "1 - cosine to the nearest task centroid (0..2; higher = further from the tasks)", 0, 2, worse="higher"),
        "off_topic_z": Score(
            "robust z-score of off_topic_distance in this dataset (higher = more unusual)", float("-inf"), float("inf"), worse="higher"),
    }
    group = "embeddings"
    order = 140
    weight = 0.4
    threshold = Threshold("max_z", "off_topic_z", ">=")
    config_inputs = ("embeddings", "seed")
    Params = OffTopicParams

    needs = ("embedding",)

    def fit(self, batch: pa.Table) -> dict:
        return {"rows": np.asarray(batch["row"].to_numpy(zero_copy_only=False), dtype=np.int64),
                "emb": embedding_matrix(batch["embedding"])}

    def finalize(self, state: dict) -> dict:
        emb = state["emb"]
        n = len(emb)
        if n == 0:
            return {"rows": state["rows"], "dist": np.zeros(0), "z": np.zeros(0)}
        p = self.params
        dist, z = task_distance(emb, k=p.k, seed=self.seed(), min_task_share=p.min_task_share,
                                min_task_rows=p.min_task_rows)
        if n < p.min_rows:
            z = np.full(n, np.nan)
        return {"rows": state["rows"], "dist": dist, "z": z}

    def score(self, batch: pa.Table, state: dict) -> pa.Table:
        pos = batch_positions(batch, state["rows"])
        dist, z = state["dist"][pos], state["z"][pos]
        return pa.table({
            "off_topic_distance": pa.array(dist.astype(np.float32), pa.float32()),
            "off_topic_z": pa.array(z.astype(np.float32), mask=np.isnan(z), type=pa.float32()),
        })

    def decide(self, scores: pa.Table) -> np.ndarray:
        dist = scores["off_topic_distance"].to_numpy(zero_copy_only=False).astype(np.float64)
        z = np.nan_to_num(scores["off_topic_z"].to_numpy(zero_copy_only=False).astype(np.float64), nan=-np.inf)
        return (z >= self.params.max_z) & (dist >= self.params.min_distance)


def task_distance(emb: np.ndarray, *, k: int | None = None, seed: int = 0, min_task_share: float = 0.25,
                  min_task_rows: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each unit row to the nearest task centroid, and its robust z-score.

    Returns ``(distance (n,) in 0..2, z (n,))``. When no cluster is big enough
    to be a task, every cluster counts (the dataset is all small tasks).
    """
    from ..models.embeddings import kmeans

    n = len(emb)
    labels, centroids = kmeans(emb, k, seed=seed, n_init=3)
    sizes = np.bincount(labels, minlength=len(centroids))
    need = max(min_task_rows, min_task_share * n / max(1, len(centroids)))
    tasks = sizes >= need
    if not tasks.any():
        tasks[:] = True
    dist = 1.0 - (emb @ centroids[tasks].T).max(axis=1).astype(np.float64)
    dist = np.clip(dist, 0.0, 2.0)
    return dist, robust_z(dist, min_scale=MAD_SCALE * MIN_MAD)
