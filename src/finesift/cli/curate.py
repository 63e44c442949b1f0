"""``finesift curate DATA -o OUTDIR`` and ``finesift recipe --init [PATH]``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import orjson
import typer

from ..errors import ConfigError, OutputError
from ..io.remote import join
from ._common import console, parse_map, safe_text, visible


def register(app: typer.Typer) -> None:
    app.command("curate")(curate_cmd)
    app.command("recipe")(recipe_cmd)


def curate_cmd(
    data: str = typer.Argument(..., help="Dataset file or folder (JSONL, JSON, CSV/TSV, Parquet, HF save_to_disk), or a URI of a file (s3://, gs://, file://...)."),
    out: str = typer.Option(..., "-o", "--out", help="Output folder: kept.*, rejected.*, audit.parquet, summary.json, recipe.yaml. A path, or a URI (s3://, gs://, hdfs://, abfs://, file://) uploaded once complete."),
    target: Optional[int] = typer.Option(None, "--target", help="Rows to keep (quality first, diversity-aware)."),
    keep_fraction: Optional[float] = typer.Option(None, "--keep-fraction", help="Alternative to --target: fraction of the input rows to keep."),
    recipe: Optional[Path] = typer.Option(None, "--recipe", help="Recipe YAML (see 'finesift recipe --init'). Default: the built-in recipe."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for sampling and clustering (default: the recipe's, 0)."),
    audit_dir: Optional[str] = typer.Option(None, "--audit", help="Reuse DIR/audit.parquet from 'finesift audit' on this same data (a path or a URI)."),
    current: Optional[str] = typer.Option(None, "--current", help="stale: current-era condition on a metadata field, e.g. 'date>=2024-01-01'."),
    reference: Optional[str] = typer.Option(None, "--reference", help="stale: a file of current-era rows."),
    eval_: Optional[str] = typer.Option(None, "--eval", help="leakage: evaluation file; training rows duplicating it are rejected."),
    model: Optional[str] = typer.Option(None, "--model", help="Local causal LM folder for LM scores (default: SmolLM2-135M-Instruct)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N or mps (default auto: cuda when available)."),
    no_models: bool = typer.Option(False, "--no-models", help="No embedding or LM models: rule checks only, lexical features for diversity."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Rows per batch for row-level checks (does not change the result)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Audit checks scored at once (default 1: one after another). Same kept set; memory grows with it."),
    fmt: Optional[str] = typer.Option(None, "--format", help="Force the input format: jsonl, json, csv, tsv, parquet, hf."),
    map_: Optional[str] = typer.Option(None, "--map", help="Field mapping, e.g. instruction=question,output=answer."),
    on_error: str = typer.Option("raise", "--on-error", help="raise: stop at the first bad record; skip: skip and count them."),
    json_out: bool = typer.Option(False, "--json", help="Print summary.json to stdout instead of tables."),
    engine: str = typer.Option("local", "--engine", help="local: in this process; ray: the audit on Ray Data (a local Ray instance, or the cluster of --ray-address). Same kept set."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="--engine ray: join this running Ray cluster (HOST:PORT of its head, auto, or ray://HOST:PORT) instead of starting a local instance."),
    ray_gpus: Optional[float] = typer.Option(None, "--ray-gpus", help="--engine ray: GPUs each model task (LM scores, sentence embeddings) asks for on a cluster with GPUs (default 1; 0.5 lets two share one; 0: CPUs only)."),
) -> None:
    """Curate a dataset: drop broken rows, keep the best of each duplicate/conflict group, select a diverse best subset."""
    from ..curate.pipeline import curate

    if target is not None and keep_fraction is not None:
        raise ConfigError("give either --target or --keep-fraction, not both")
    if on_error not in ("raise", "skip"):
        raise ConfigError("--on-error must be 'raise' or 'skip'")
    kwargs = dict(recipe=recipe, target=target, keep_fraction=keep_fraction, seed=seed, audit_dir=audit_dir,
                  current=current, reference=reference, eval_data=eval_, model=model, device=device,
                  no_models=no_models, batch_size=batch_size, threads=threads, field_map=parse_map(map_), fmt=fmt,
                  on_error=on_error, report=True)
    from ..engine._choice import engine_scope

    if json_out:
        with engine_scope(engine, ray_address, ray_gpus):
            result = curate(data, out, **kwargs)
        sys.stdout.write(orjson.dumps(result.summary, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    from ..engine.progress import RichProgress

    with engine_scope(engine, ray_address, ray_gpus), RichProgress() as progress:
        result = curate(data, out, progress=progress, **kwargs)
    print_summary(result.summary, out)


def print_summary(summary: dict, out: str | Path) -> None:
    from rich.table import Table

    con = console()
    c = summary["counts"]
    ds = summary["dataset"]
    con.print(f"[bold]{safe_text(ds['source'])}[/] ({safe_text(ds['format'])}, {safe_text(ds['shape'])}): "
              f"{c['input_rows']} rows -> [bold green]{c['kept']} kept[/], {c['rejected']} rejected "
              f"({c['filtered']} by the recipe's filters, {c['not_selected']} not selected)")
    if c["rejected_by_reason"]:
        table = Table(title="Rejected rows by reason (a row may have several)")
        table.add_column("reason")
        table.add_column("rows", justify="right")
        for code, count in sorted(c["rejected_by_reason"].items(), key=lambda kv: -kv[1]):
            table.add_row(safe_text(code), str(count))
        con.print(table)
    cov = summary["coverage"]
    if cov["clusters"]:
        table = Table(title=f"Coverage: {cov['clusters_kept']}/{cov['clusters_in_pool']} clusters of the candidate pool kept")
        for col in ("cluster", "pool", "kept", "example"):
            table.add_column(col, justify="right" if col in ("pool", "kept") else "left")
        for item in cov["clusters"][:20]:
            style = "bold red" if item["kept"] == 0 else ""
            table.add_row(str(item["cluster"]), str(item["pool"]), f"[{style}]{item['kept']}[/]" if style else str(item["kept"]),
                          safe_text(item.get("example", "")))
        con.print(table)
    sec = summary["seconds"]
    con.print("seconds: " + ", ".join(f"{safe_text(k)} {v:.2f}" for k, v in sec.items()))
    files = ", ".join(safe_text(join(out, name)) for name in summary["files"].values())
    con.print(f"Wrote {files}, {safe_text(join(out, 'summary.json'))} and {safe_text(join(out, 'report.html'))}")
    con.print(f"Validate the kept rows in your browser: finesift review {safe_text(out)}")


def recipe_cmd(
    path: Optional[Path] = typer.Argument(None, help="With --init: where to write (default: recipe.yaml). "
                                          "Without: a recipe to check and print resolved."),
    init: bool = typer.Option(False, "--init", help="Write the default recipe, with a comment on every field."),
    force: bool = typer.Option(False, "--force", help="With --init or --from-review: overwrite an existing file."),
    from_review: Optional[Path] = typer.Option(
        None, "--from-review", help="A curate folder reviewed with 'finesift review': write a recipe whose thresholds "
        "match the decisions made there (where enough exist) and say what changed and by how much."),
) -> None:
    """Write the default curate recipe (--init), one tuned to your review (--from-review), or check a recipe file."""
    from ..curate.recipe import Recipe, load_recipe, recipe_yaml
    from ..io.atomic import atomic_open

    if init and from_review is not None:
        raise ConfigError("give either --init or --from-review, not both")
    if from_review is not None:
        from .review import recipe_cmd as review_recipe

        target = path or Path("recipe.yaml")
        if target.exists() and not target.is_dir() and not force:
            raise ConfigError(f"{target} exists; use --force to overwrite it")
        review_recipe(from_review, target)
        return
    if init:
        from ..pipeline import writing

        target = path or Path("recipe.yaml")
        if target.is_dir():
            raise OutputError(f"{target} is a folder; give the recipe file's path, e.g. {target / 'recipe.yaml'}")
        if target.exists() and not force:
            raise ConfigError(f"{target} exists; use --force to overwrite it")
        with writing(target), atomic_open(target, "w", encoding="utf-8") as fh:
            fh.write(recipe_yaml(Recipe(), header="finesift curate recipe. Use with: finesift curate DATA -o OUTDIR "
                                                   "--recipe " + target.name))
        typer.echo(f"Wrote {visible(target)}")
        return
    if path is None:
        sys.stdout.write(recipe_yaml(Recipe()))
        return
    sys.stdout.write(recipe_yaml(load_recipe(path)))
