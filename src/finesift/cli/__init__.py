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


#: printed on Ctrl-C; true because every output is written to a temporary name and renamed, and
#: summary.json (the completion marker) is removed when a run starts and written last
INTERRUPTED = "interrupted: no partial output was left in place"


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one clear line on stderr and exit code 2, never a traceback.

    Click runs in non-standalone mode so that the outcome is handled here: Typer turns Ctrl-C
    into exit code 130 itself, before a ``KeyboardInterrupt`` could reach an ``except``.
    """
    from ._common import console, safe_text

    def fail(message: str, code: int) -> None:
        console(stderr=True).print(message, soft_wrap=True)
        sys.exit(code)

    try:
        rv = app(args=argv, standalone_mode=False)
    except FinesiftError as exc:
        fail(f"[bold red]error:[/] {safe_text(exc)}", 2)
    except KeyboardInterrupt:
        fail(f"[yellow]{INTERRUPTED}[/]", 130)
    except typer.Abort as exc:  # Ctrl-D (EOF) at a prompt, or an abort in a callback
        if isinstance(exc.__context__, KeyboardInterrupt):
            fail(f"[yellow]{INTERRUPTED}[/]", 130)
        fail("[yellow]aborted[/]", 1)
    except typer.TyperException as exc:  # usage errors: shown as in Typer's standalone mode, exit 2
        _show_usage_error(exc)
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    else:
        if rv == 130:  # Typer's translation of KeyboardInterrupt (commands never return 130 themselves)
            fail(f"[yellow]{INTERRUPTED}[/]", 130)
        sys.exit(rv if isinstance(rv, int) else 0)  # as click's standalone mode: main() always exits


def _show_usage_error(exc: Exception) -> None:
    try:
        from typer import rich_utils

        rich_utils.rich_format_error(exc)
    except Exception:  # another Typer version: its plain rendering
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            typer.echo(f"Error: {exc}", err=True)
