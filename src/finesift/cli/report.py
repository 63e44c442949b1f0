"""``finesift report DIR``: write DIR/report.html from an audit, curate or compare folder."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import console, safe_text


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)


def report_cmd(
    folder: Path = typer.Argument(..., help="Output folder of finesift audit, curate or compare."),
    sample: int = typer.Option(20, "--sample", min=1, max=1000, help="Example rows shown per issue code."),
) -> None:
    """Write one self-contained, offline report.html (findings, examples, charts) into the folder."""
    from ..report import write_report

    path = write_report(folder, sample=sample)
    console().print(f"Wrote {safe_text(path)}")
