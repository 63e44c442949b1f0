"""``finesift checks [CODE ...]``: every check with its metadata, parameters and their help."""

from __future__ import annotations

from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("checks")(checks_cmd)


def checks_cmd(
    codes: Optional[List[str]] = typer.Argument(None, help="Checks to show (default: every check)."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the README's check table instead."),
    as_json: bool = typer.Option(False, "--json", help="Print the metadata and parameters as JSON."),
) -> None:
    """List the checks: what each flags, when it runs, its scores, and every parameter with its help.

    Decision parameters re-decide stored scores (redecide, curate --audit); scoring knobs need a new audit.
    """
    from ..checks.base import check_info, get_check, markdown_table, ordered, param_help

    if markdown:
        typer.echo(markdown_table(), nl=False)
        return
    classes = [get_check(c) for c in codes] if codes else ordered()
    if as_json:
        import orjson

        data = {c.name: {**check_info(c), "params": param_help(c)} for c in classes}
        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode())
        return
    out: list[str] = []
    for cls in classes:
        info = check_info(cls)
        runs = "default" if cls.default else (f"opt-in: {cls.group}" if cls.group else "opt-in: --checks")
        curate = "curate drops it" if cls.drop else "curate: lowers quality only"
        out.append(f"{cls.name}  ({runs}; {cls.cost}; {curate}; weight {cls.weight:g})")
        out.append(f"  {cls.description}")
        if info["threshold"]:
            t = info["threshold"]
            out.append(f"  flagged when {t['column']} {t['op']} {t['param']}")
        out.append("  scores:")
        for col, text in cls.score_columns.items():
            out.append(f"    {col}: {text}")
        out.append("  params:")
        for p in param_help(cls):
            out.append(f"    {p['name']} = {p['default']!r}  [{p['role']}]  {p['help']}")
        out.append("")
    typer.echo("\n".join(out).rstrip("\n"))
