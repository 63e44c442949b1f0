"""The Python API the CLI is a thin layer over."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import AuditConfig
from .pipeline import (AUDIT_FILES, AUDIT_STALE, REPORT_FILE, AuditResult, audit_dataset, build_checks, prepare_output_dir,
                       write_audit)


def audit(data: str | Path, config: AuditConfig | dict[str, Any] | None = None, *, out: str | Path | None = None,
          field_map: dict[str, str] | None = None, fmt: str | None = None, on_error: str = "raise",
          progress=None, report: bool = False, **overrides: Any) -> AuditResult:
    """Audit an SFT dataset file and return its :class:`~finesift.pipeline.AuditResult`.

    ``result.table`` is the audit table: one row per input record in input order, with
    ``row``, ``id``, ``flags`` (issue codes), ``duplicate_of`` and every check's score
    columns. ``result.summary`` is what ``summary.json`` holds. With ``out``, both are
    written there: the folder is checked before any work, its ``summary.json`` (the
    completion marker) removed at the start and written last; ``report=True`` adds
    ``report.html``. ``data`` and ``out`` may be URIs of any filesystem pyarrow supports
    (``s3://``, ``gs://``, ``file://``...): a URI output is written to a local temporary folder
    and uploaded when complete, ``summary.json`` last. Keyword ``overrides`` set
    :class:`AuditConfig` fields.
    """
    from .io import read
    from .io.remote import output_folder

    if config is None:
        config = AuditConfig(**overrides)
    elif isinstance(config, dict):
        config = AuditConfig(**{**config, **overrides})
    elif overrides:
        config = config.model_copy(update=overrides)
    build_checks(config)  # an unknown code or parameter fails before the output folder is touched
    require_device(config.device)
    with output_folder(out, (*AUDIT_FILES, REPORT_FILE), AUDIT_STALE) as local:
        if local is not None:
            prepare_output_dir(local)
        dataset = read(str(data), fmt=fmt, field_map=field_map, on_error=on_error)
        result = audit_dataset(dataset, config, progress=progress)
        if local is not None:
            write_audit(result, local, prepared=True)
            if report:
                from .report import write_report

                write_report(local, dataset=result.dataset, table=result.table)
    return result


def require_device(device: str | None) -> None:
    """Fail fast when a device is asked for that this machine does not have (before reading or scoring)."""
    if device not in (None, "cpu"):
        from .models.loading import resolve_device

        resolve_device(device)


def curate(data: str | Path, out: str | Path, recipe=None, **kwargs: Any):
    """Curate ``data`` into ``out``: see :func:`finesift.curate.pipeline.curate`."""
    from .curate.pipeline import curate as _curate

    return _curate(data, out, recipe, **kwargs)


def train(data: str | Path, out: str | Path, config=None, **kwargs: Any):
    """LoRA fine-tune on ``data`` into ``out``: see :func:`finesift.train.train`."""
    from .train import train as _train

    return _train(data, out, config, **kwargs)


def compare(raw: str | Path, curated: str | Path, eval: str | Path, out: str | Path, config=None, **kwargs: Any):
    """Train on raw and curated data and compare on ``eval``: see :func:`finesift.train.compare`."""
    from .train import compare as _compare

    return _compare(raw, curated, eval, out, config, **kwargs)
