"""``finesift audit DATA -o OUTDIR``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import orjson
import typer
from pydantic import ValidationError
from rich.table import Table

from ..config import PARTNER_PRECEDENCE, AuditConfig
from ..errors import ConfigError
from ..io.remote import join
from ._common import console, load_config_file, parse_list, parse_map, safe_text


def register(app: typer.Typer) -> None:
    app.command("audit")(audit_cmd)


def audit_cmd(
    data: str = typer.Argument(..., help="Dataset file or folder (JSONL, JSON, CSV/TSV, Parquet, HF save_to_disk), a URI of a file (s3://, gs://, file://...), or - for JSONL on stdin."),
    out: str = typer.Option(..., "-o", "--out", help="Output folder for audit.parquet and summary.json: a path, or a URI (s3://, gs://, hdfs://, abfs://, file://) uploaded once complete."),
    fmt: Optional[str] = typer.Option(None, "--format", help="Force the input format: jsonl, json, csv, tsv, parquet, hf."),
    map_: Optional[str] = typer.Option(None, "--map", help="Field mapping, e.g. instruction=question,output=answer."),
    on_error: str = typer.Option("raise", "--on-error", help="raise: stop at the first bad record; skip: skip, count and list them in OUTDIR/skipped.jsonl."),
    checks: Optional[str] = typer.Option(None, "--checks", help="Comma-separated issue codes to run (default: all audit checks)."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="YAML/JSON file of config fields (as in summary.json's 'config')."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="too_long: token budget for prompt+answer."),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", help="too_long: local tokenizer folder or tokenizer.json."),
    lang: Optional[str] = typer.Option(None, "--lang", help="Expected answer language (ISO 639-1), default: detected."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Rows per batch for row-level checks."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Checks scored at once (default 1: one after another). Same results; memory grows with it."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for anything random."),
    with_: Optional[str] = typer.Option(None, "--with", help="Opt-in model-based checks: embeddings,lm,judge."),
    model: Optional[str] = typer.Option(None, "--model", help="Local causal LM folder for --with lm (default: SmolLM2-135M-Instruct)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N or mps (default auto: cuda when available)."),
    current: Optional[str] = typer.Option(None, "--current", help="stale: current-era condition on a metadata column, e.g. 'date>=2024-01-01'."),
    reference: Optional[str] = typer.Option(None, "--reference", help="stale: a file of current-era rows."),
    eval_: Optional[str] = typer.Option(None, "--eval", help="leakage: evaluation file; training rows duplicating it are flagged."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of tables."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", help="Exit 1 if any row has one of these codes (comma-separated)."),
    max_flag_rate: Optional[float] = typer.Option(None, "--max-flag-rate", help="Exit 1 if more than this fraction of rows is flagged."),
    engine: str = typer.Option("local", "--engine", help="local: in this process; ray: on Ray Data (a local Ray instance, or the cluster of --ray-address). Same results."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="--engine ray: join this running Ray cluster (HOST:PORT of its head, auto, or ray://HOST:PORT) instead of starting a local instance."),
    ray_gpus: Optional[float] = typer.Option(None, "--ray-gpus", help="--engine ray: GPUs each model task (LM scores, sentence embeddings) asks for on a cluster with GPUs (default 1; 0.5 lets two share one; 0: CPUs only)."),
) -> None:
    """Measure an SFT dataset: duplicates, conflicts, broken answers, wrong language, typos, PII... row by row."""
    from ..api import audit

    fields = load_config_file(config_file)
    for key, val in (("checks", parse_list(checks)), ("max_tokens", max_tokens), ("tokenizer", tokenizer),
                     ("expected_language", lang), ("batch_size", batch_size), ("threads", threads), ("seed", seed),
                     ("with_models", parse_list(with_)), ("model", model), ("device", device), ("current", current),
                     ("reference", reference), ("eval_data", eval_)):
        if val is not None:
            fields[key] = val
    try:
        config = AuditConfig(**fields)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
    if on_error not in ("raise", "skip"):
        raise ConfigError("--on-error must be 'raise' or 'skip'")
    fail_codes = check_fail_on(parse_list(fail_on) or [], config)
    if max_flag_rate is not None and not 0 <= max_flag_rate <= 1:
        raise ConfigError("--max-flag-rate must be between 0 and 1")

    from ..engine._choice import engine_scope

    progress = None
    if not json_out:
        from ..engine.progress import RichProgress

        progress = RichProgress()
    with engine_scope(engine, ray_address, ray_gpus):
        if progress is not None:
            with progress:
                result = audit(data, config, out=out, field_map=parse_map(map_), fmt=fmt, on_error=on_error,
                               progress=progress, report=True)
        else:
            result = audit(data, config, out=out, field_map=parse_map(map_), fmt=fmt, on_error=on_error,
                           report=True)

    summary = result.summary
    if json_out:
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_summary(summary, out)

    failures = []
    for code in fail_codes:
        if summary["counts"].get(code, 0) > 0:
            failures.append(f"{summary['counts'][code]} rows flagged {code}")
    if max_flag_rate is not None and summary["stats"]["flag_rate"] > max_flag_rate:
        failures.append(f"flag rate {summary['stats']['flag_rate']:.2%} > {max_flag_rate:.2%}")
    if failures:
        console(stderr=True).print(f"[bold red]quality gate failed:[/] {safe_text('; '.join(failures))}")
        raise typer.Exit(1)


def check_fail_on(codes: list[str], config: AuditConfig) -> list[str]:
    """``--fail-on`` codes, refused unless each is a known code whose check runs in this audit.

    A typo or a code whose check is off would never be counted, and the gate would pass by accident.
    """
    from ..checks.base import registry

    known = sorted(registry())
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise ConfigError(f"--fail-on: unknown issue code(s) {', '.join(unknown)}; known codes: {', '.join(known)}")
    running = config.effective_checks()
    idle = [c for c in codes if c not in running]
    if idle:
        raise ConfigError(f"--fail-on: {', '.join(idle)} not run by this audit, so the gate could never fail on "
                          f"it; running: {', '.join(running)} (add it with --checks)")
    return codes


def print_summary(summary: dict, out: str | Path) -> None:
    con = console()
    st = summary["stats"]
    ds = summary["dataset"]
    con.print(
        f"[bold]{safe_text(ds['source'])}[/] ({safe_text(ds['format'])}, {safe_text(ds['shape'])}): {st['rows']} rows, "
        f"{st['unique_rows']} unique, effective size after dedup {st['effective_rows']}, "
        f"{st['flagged_rows']} flagged ({st['flag_rate']:.1%})"
    )
    for warning in ds.get("warnings") or []:
        con.print(f"[yellow]warning: {safe_text(warning)}[/]")
    if ds.get("skipped_records"):
        con.print(f"[yellow]{ds['skipped_records']} malformed records skipped; see {safe_text(join(out, 'skipped.jsonl'))}[/]")
    table = Table(title="Findings", show_lines=False)
    table.add_column("code")
    table.add_column("rows", justify="right")
    table.add_column("what it means")
    table.add_column("s", justify="right")
    for code, count in summary["counts"].items():
        style = "bold red" if count else "dim"
        table.add_row(f"[{style}]{safe_text(code)}[/]", str(count), safe_text(summary["checks"][code]["description"]),
                      f"{summary['seconds']['checks'].get(code, 0):.2f}")
    con.print(table)
    for code, examples in summary["examples"].items():
        if not examples:
            continue
        con.print(f"[bold]{safe_text(code)}[/] e.g.")
        for ex in examples:
            partner = ""
            if ex.get("partner") is not None:
                # duplicates/conflicts name the row kept instead; other checks name an example to compare with
                partner = f" -> row {ex['partner']}" if code in PARTNER_PRECEDENCE else f" (cf. row {ex['partner']})"
            scores = ", ".join(f"{k}={v}" for k, v in ex["scores"].items())
            # repr() quotes the text and escapes controls; safe_text then escapes markup and bidi
            con.print(f"  row {ex['row']}{partner}: {safe_text(repr(ex['prompt']))} => {safe_text(repr(ex['output']))}"
                      f"  [dim]{safe_text(scores)}[/]", soft_wrap=True)
    con.print(f"Wrote {safe_text(join(out, 'audit.parquet'))}, {safe_text(join(out, 'summary.json'))} and "
              f"{safe_text(join(out, 'report.html'))} (open it in a browser)")
