"""``finesift review DIR``: a local web app to validate a curated set by keyboard.

* :mod:`.data` loads a curate output folder (rows, texts, the tool's verdicts, groups, queues);
* :mod:`.store` keeps the person's decisions in ``DIR/review.sqlite`` (append-only log, WAL);
* :mod:`.app` is the FastAPI app (the page lives in ``finesift/data/review/``);
* :mod:`.export` writes the validated set and the agreement table;
* :mod:`.feedback` turns the decisions into a recipe whose thresholds match them.
"""

from .feedback import MIN_DECISIONS, recipe_from_review

__all__ = ["recipe_from_review", "MIN_DECISIONS"]
