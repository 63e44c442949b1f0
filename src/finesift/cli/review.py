"""``finesift review DIR``: the local review app, its export and the recipe its decisions suggest."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Optional

import typer

from ..errors import ConfigError
from ._common import console, safe_text, visible

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(app: typer.Typer) -> None:
    app.command("review")(review_cmd)


def review_cmd(
    folder: Path = typer.Argument(..., help="A curate output folder (finesift curate DATA -o DIR)."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="Port to serve on (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind. Anything but 127.0.0.1 exposes the "
                             "data and the decisions to the network: the app has no authentication."),
    rejected: bool = typer.Option(False, "--rejected", help="Step through the rejected rows instead of the curated set."),
    code: Optional[str] = typer.Option(None, "--code", help="Step through the rows with this issue code."),
    export: Optional[Path] = typer.Option(None, "--export", help="Write OUT/validated.<ext> (accepted and edited "
                                          "rows) and OUT/agreement.json, print the agreement table, and exit."),
    recipe_out: Optional[Path] = typer.Option(None, "--recipe-out", help="Write a recipe whose thresholds match "
                                              "your decisions to this file, say what changed, and exit."),
    self_check: float = typer.Option(0.05, "--self-check", min=0.0, max=1.0,
                                     help="Share of decisions after which a decided row is shown again, unannounced."),
    seed: int = typer.Option(0, "--seed", help="Seed of the self-check sampling."),
) -> None:
    """Validate the curated set in a local web app, by keyboard; export it; feed decisions back into a recipe."""
    if rejected and code:
        raise ConfigError("give either --rejected or --code, not both")
    if export is not None or recipe_out is not None:
        if export is not None:
            export_cmd(folder, export)
        if recipe_out is not None:
            recipe_cmd(folder, recipe_out)
        return
    serve(folder, host=host, port=port, queue="rejected" if rejected else (f"code:{code}" if code else "kept"),
          self_check=self_check, seed=seed)


def serve(folder: Path, *, host: str, port: int, queue: str, self_check: float, seed: int) -> None:
    import uvicorn

    from ..review.app import create_app

    port = _free_port(host, port)
    app = create_app(folder, host=host, port=port, self_check=self_check, seed=seed, default_queue=queue)
    shown = f"[{host}]" if ":" in host else host
    con = console()
    con.print(f"finesift review: [bold]http://{shown}:{port}/[/]  ({safe_text(folder)}; decisions saved at once in "
              f"{safe_text(folder / 'review.sqlite')}; Ctrl-C stops)", soft_wrap=True)
    if host not in LOOPBACK:
        console(stderr=True).print(f"[bold yellow]warning:[/] listening on {safe_text(host)}: the review app has no "
                                   "authentication; anyone who can reach this address can read the dataset and "
                                   "change the decisions", soft_wrap=True)
    sys.stdout.flush()
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)).run()


def _free_port(host: str, port: int) -> int:
    """``port`` if it can be bound (0: a free one), else one clear error before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (pick another --port)") from None
        return s.getsockname()[1]


def export_cmd(folder: Path, out: Path) -> None:
    from rich.table import Table

    from ..review.export import export

    table = export(folder, out)
    con = console()
    o = table["overall"]
    con.print(f"Wrote {safe_text(out / table['files']['validated'])} ({table['files']['rows']} validated rows) and "
              f"{safe_text(out / 'agreement.json')}", soft_wrap=True)
    con.print(f"{o['decided']} rows decided: you agreed with the tool on {o['agreed']}; "
              f"{o['tool_kept_person_rejected']} kept by the tool were rejected by you, "
              f"{o['tool_rejected_person_accepted']} rejected by the tool were accepted by you; {o['edited']} edited.")
    sc = table.get("self_check") or {}
    if sc.get("rechecked"):
        con.print(f"self-check: {sc['agreed']}/{sc['rechecked']} repeated rows got the same answer ({sc['rate']:.0%})")
    t = Table(title="Agreement per issue code")
    for col in ("code", "decided", "you kept", "you rejected", "overruled", "score", "threshold", "matching you"):
        t.add_column(col, justify="left" if col in ("code", "score") else "right")
    for code, e in table["codes"].items():
        th = e.get("threshold")
        t.add_row(safe_text(code), str(e["decided"]), str(e["person_kept"]), str(e["person_rejected"]),
                  str(e["overruled"]), safe_text(th["column"]) if th else "",
                  f"{_num(th['current'])} ({th['agree_current']}/{th['rows']})" if th else "",
                  f"{_num(th['matching'])} ({th['agree_matching']}/{th['rows']})" if th else "")
    con.print(t)


def recipe_cmd(folder: Path, out: Path) -> None:
    from ..curate.recipe import recipe_yaml
    from ..errors import OutputError
    from ..io.atomic import atomic_open
    from ..pipeline import writing
    from ..review.feedback import recipe_from_review

    if out.is_dir():
        raise OutputError(f"{out} is a folder; give the recipe file's path, e.g. {out / 'recipe.yaml'}")
    recipe, changes = recipe_from_review(folder)
    with writing(out), atomic_open(out, "w", encoding="utf-8") as fh:
        fh.write(recipe_yaml(recipe, header=f"finesift recipe with thresholds matched to the review of {folder}.\n"
                                            f"Use with: finesift curate DATA -o OUTDIR --recipe {out.name}"))
    typer.echo(f"Wrote {visible(out)}")
    for line in changes:
        typer.echo(f"  {visible(line)}")


def _num(v) -> str:
    if v is None:
        return "-"
    return str(int(v)) if float(v).is_integer() else f"{v:.4g}"
