"""Triage commands: `classify`, `eval`, `triage relabel`, `triage train`.

`classify` contract (DESIGN.md): JSONL on stdin, one object per line with `id` and `text` and
optionally `author` ({followers, verified, is_bot, is_own}), `metrics`, `source`, `lang`,
`prior_contacts`, `open_incidents`; one JSONL line on stdout per good input line, in order, with the
same `id` and the verdict fields. Blank lines are skipped. A line that is not a JSON object with a
string `text` gets no output line; it is reported on stderr as `line N: <problem>` and the other
lines carry on; the exit status is then 1 (0 when every line was good), so a script notices.
"""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from monitor.triage.rules import RulesError

triage_app = typer.Typer(help="Correct triage and train the local model from the corrections.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("classify", help="Triage JSONL mentions from stdin; one verdict per line on stdout.")(classify)
    app.command("eval", help="Precision, recall, F1 and a confusion matrix on labelled posts.")(evaluate)
    app.add_typer(triage_app, name="triage")
    triage_app.command("relabel", help="Record the team's correction of a mention's triage.")(relabel)
    triage_app.command("train", help="Fit a local model on the corrections; switch it on only if it beats the rules.")(train)


# -- shared -----------------------------------------------------------------------------------

def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _load_cfg(config: Path):  # type: ignore[no-untyped-def]
    from monitor.config import ConfigFileError, load_config

    try:
        return load_config(config)
    except ConfigFileError as e:
        _fail(str(e))


def _triage_from(config: Path | None, rules: Path | None, model: Path | None, learned: bool = True):  # type: ignore[no-untyped-def]
    from monitor.triage import load_triage
    from monitor.triage.model import ModelError

    if config is not None:
        cfg = _load_cfg(config)  # its relative paths already point beside the file
        rules = rules or cfg.triage.rules
        model = model or cfg.triage.model
    try:
        return load_triage(rules, model, learned=None if learned else False)
    except (RulesError, ModelError) as e:
        _fail(str(e))


def _rules_from(cfg):  # type: ignore[no-untyped-def]
    from monitor.triage.rules import load_rules

    try:
        return load_rules(cfg.triage.rules)
    except RulesError as e:
        _fail(str(e))


_CONFIG = typer.Option(None, "--config", "-c", help="The operator's config file (its triage.rules and triage.model).")
_RULES = typer.Option(None, "--rules", help="A rules file (instead of the config's or the shipped one).")
_MODEL = typer.Option(None, "--model", help="A model file from `triage train`.")


# -- classify ---------------------------------------------------------------------------------

def classify(config: Optional[Path] = _CONFIG, rules: Optional[Path] = _RULES, model: Optional[Path] = _MODEL,
             learned: bool = typer.Option(True, "--learned/--rules-only", help="Blend the shipped complaint model with the rules (default) or use the rules alone.")) -> None:
    from monitor.triage import contract

    triage = _triage_from(config, rules, model, learned)
    bad = contract.run_fd(triage, sys.stdin.buffer, sys.stdout.buffer, lambda msg: print(msg, file=sys.stderr))
    if bad:
        print(f"{bad} line(s) could not be classified", file=sys.stderr)
        raise typer.Exit(1)


# -- eval -------------------------------------------------------------------------------------

def evaluate(
    data: Optional[Path] = typer.Option(None, "--data", help="A labelled file (see EVALUATION.md); with --cross-industry, the shared data folder."),
    format: Optional[str] = typer.Option(None, "--format", help="airline | asapp | kechtel | jsonl | ibm-labelled | kechtel-labelled"),
    split: str = typer.Option("test", "--split", help="test (held out, default) | dev (the part rules were written against) | all"),
    config: Optional[Path] = _CONFIG,
    rules: Optional[Path] = _RULES,
    model: Optional[Path] = _MODEL,
    baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Also print the VADER-only baseline."),
    learned: bool = typer.Option(True, "--learned/--rules-only", help="Blend the shipped complaint model (default) or use the rules alone."),
    cross_industry: bool = typer.Option(False, "--cross-industry", help="Hold each labelled sample out in turn (train on airlines + the others): rules alone, model alone, blend, VADER alone, TF-IDF side by side; then the fresh sample with the shipped model."),
    fresh: bool = typer.Option(True, "--fresh/--no-fresh", help="With --cross-industry: also score the fresh test sample (labels/README.md) with the shipped model."),
) -> None:
    from monitor.triage import datasets, evaluation

    if cross_industry:
        from monitor.triage import shipped_model

        folder = data or datasets.shared_data_dir()
        if not (folder / "twitter-us-airline-sentiment.csv").is_file():
            _fail(f"{folder}: not the shared data folder (no twitter-us-airline-sentiment.csv); pass --data or set OUTREACH_SHARED_DATA")
        from monitor.triage.model import SHIPPED_COMPLAINT_MODEL, load_complaint_model

        shipped = load_complaint_model() if fresh and SHIPPED_COMPLAINT_MODEL.is_file() else None
        typer.echo(shipped_model.cross_industry(folder, _triage_from(config, rules, model, False), shipped).text())
        return
    if data is None or format is None:
        _fail("give --data and --format (or --cross-industry)")
    if format not in datasets.FORMATS:
        _fail(f"--format must be one of {', '.join(datasets.FORMATS)}")
    if split not in ("test", "dev", "all"):
        _fail("--split must be test, dev or all")
    triage = _triage_from(config, rules, model, learned)
    try:
        examples = datasets.load(data, format)
    except (OSError, ValueError) as e:
        _fail(f"{data}: {e}")
    examples = datasets.split(examples, split)
    if not examples:
        _fail(f"{data}: no labelled examples in the {split} split")
    report = evaluation.run(triage, examples, with_baseline=baseline)
    typer.echo(f"{data.name} ({format}), {split} split: {len(examples)} examples")
    typer.echo(report)


# -- relabel / train --------------------------------------------------------------------------

def relabel(
    mention_id: int = typer.Argument(..., help="The mention's id in the database."),
    urgency: Optional[str] = typer.Option(None, "--urgency", help="critical | high | normal | low | ignore"),
    category: Optional[str] = typer.Option(None, "--category", help="One of the rules' categories, or other."),
    by: str = typer.Option("cli", "--by", help="Who corrected it."),
    config: Path = typer.Option(..., "--config", "-c", help="The operator's config file (for the database)."),
) -> None:
    from monitor.models import URGENCIES
    from monitor.triage import feedback

    if urgency is None and category is None:
        _fail("give --urgency, --category or both")
    if urgency is not None and urgency not in URGENCIES:
        _fail(f"--urgency must be one of {', '.join(URGENCIES)}")
    cfg = _load_cfg(config)
    if category is not None:
        rules = _rules_from(cfg)
        known = set(rules.categories) | {"other"}
        if category not in known:
            _fail(f"--category must be one of {', '.join(sorted(known))}")
    try:
        text = asyncio.run(feedback.relabel(cfg.storage.url, mention_id, urgency=urgency, category=category, by=by))
    except feedback.UnknownMention:
        _fail(f"there is no mention with id {mention_id}")
    shown = text if len(text) <= 80 else text[:77] + "..."
    typer.echo(f"mention {mention_id} relabelled ({', '.join(x for x in (urgency, category) if x)}): {shown}")


def train(
    config: Path = typer.Option(..., "--config", "-c", help="The operator's config file (database, rules, model path)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write the model (default: triage.model, else triage-model.json beside the config)."),
    holdout: float = typer.Option(0.3, "--holdout", help="Share of the corrections held back to check the model."),
    min_feedback: int = typer.Option(30, "--min-feedback", help="Refuse to train on fewer corrections."),
    seed: int = typer.Option(0, "--seed", help="For the held-back split."),
    shipped_data: bool = typer.Option(False, "--with-shipped-data", help="Also learn categories from the shipped labelled posts (dev parts), if that helps."),
) -> None:
    from monitor.triage import feedback, training

    cfg = _load_cfg(config)
    base = config.resolve().parent
    from monitor.triage import Triage

    triage = Triage(_rules_from(cfg))  # rules alone: the model must beat these
    target = out or cfg.triage.model or base / "triage-model.json"
    rows = asyncio.run(feedback.load_all(cfg.storage.url))
    extra: list[tuple[str, str]] = []
    if shipped_data:
        from monitor.triage import datasets

        folder = datasets.shared_data_dir()
        extra = datasets.training_examples(folder)
        if not extra:
            _fail(f"no shipped data found in {folder} (set OUTREACH_SHARED_DATA)")
    result = training.train(triage, rows, holdout=holdout, min_feedback=min_feedback, seed=seed, extra=extra)
    typer.echo(result.report())
    if not result.accepted:
        typer.echo("model NOT switched on: it does not beat the rules alone on the held-back corrections")
        raise typer.Exit(1)
    result.model.save(target)
    typer.echo(f"model written to {target}")
    configured = cfg.triage.model
    if configured is None or configured.resolve() != target.resolve():
        typer.echo(f"to use it, set `triage: {{model: {target}}}` in {config} and restart")
