"""The ``finesift`` command: a thin Typer layer over :mod:`finesift.api`.

Each stage adds its commands from its own module here (``audit.py``, ``curate.py``,
``train.py`` …) through a ``register(app)`` function, found automatically.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from ..errors import FinesiftError

app = typer.Typer(
    name="finesift",
    help="Audit, curate and train on small, clean, diverse fine-tuning datasets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    """Audit, curate and train on small, clean, diverse fine-tuning datasets."""
    if version:
        from .. import __version__

        typer.echo(__version__)
        raise typer.Exit()


for _mod in pkgutil.iter_modules(__path__):
    if not _mod.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod.name}").register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one clear line on stderr and exit code 2, never a traceback."""
    from rich.console import Console
    from rich.markup import escape

    try:
        app(args=argv, standalone_mode=True)
    except FinesiftError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted: no partial output was left in place[/]")
        sys.exit(130)
