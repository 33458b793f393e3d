"""The ``churn`` command line: every command validates its input, then runs its Prefect flow.

Exit codes scripts can rely on: 0 ok, 2 bad input (data, config, no model yet), 1 any other failure.
Heavy libraries (Prefect, MLflow, XGBoost) are imported inside commands so ``--help`` is instant.
"""

from __future__ import annotations

import atexit
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

app = typer.Typer(
    name="churn",
    help="churnguard: ranked, explained lists of the customers most likely to leave.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
console = Console(stderr=True, highlight=False)
out = Console(highlight=False)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML settings file (default: ./churnguard.yaml when present).",
        exists=True,
        dir_okay=False,
    ),
]
DataOption = Annotated[
    Path, typer.Option("--data", "-d", help="Data directory (transactions + optional tables).")
]
RunDataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        "-d",
        help="Data directory (transactions + optional tables); not used with engine: postgres, "
        "which reads the tables in the database.",
    ),
]
AsOfOption = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        help="Cutoff date YYYY-MM-DD (default: the day after the newest transaction).",
    ),
]


def _as_of(value: datetime | None) -> date | None:
    return value.date() if value else None


def _config(value: Path | None) -> str | None:
    return str(value) if value else None


def _prepare_runtime() -> None:
    # XGBoost's OpenMP threads spin while idle; on a shared 2-core box that costs several times the work.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # Usage telemetry fails noisily on closed networks and contends for the ephemeral server's database.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # jsonschema, imported by Prefect, compiles 38 grammars (0.8 s, every command) when the optional
    # rfc3987-syntax is installed (Jupyter brings it into the dev environment) to check IRI formats,
    # which no churnguard schema uses; without the module jsonschema skips those checks.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def _run(action: Callable[[], Any]) -> Any:
    """Run a command body, mapping failures to exit codes and readable messages."""
    from churnguard.core import interrupt
    from churnguard.core.errors import BadInputError

    _prepare_runtime()
    interrupt.install()
    try:
        return action()
    except BadInputError as exc:
        console.print(f"[bold red]churn: cannot continue:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print("[yellow]churn: interrupted[/]")
        raise typer.Exit(interrupt.EXIT_CODE) from None
    except typer.Exit:
        raise
    except Exception as exc:
        if os.environ.get("CHURNGUARD_DEBUG"):
            traceback.print_exc()
        console.print(
            f"[bold red]churn: failed:[/] {type(exc).__name__}: {exc}", highlight=False, soft_wrap=True
        )
        console.print("Set CHURNGUARD_DEBUG=1 for the full traceback.", style="dim")
        raise typer.Exit(1) from None


@contextmanager
def _flow_progress(title: str, server: str | None) -> Iterator[None]:
    """A live progress line fed by the flow's progress messages, under the flow's own log lines."""
    from churnguard.core.progress import listening

    if server:
        console.print(f"[bold]{title}[/] as Prefect flow runs on {_masked(server)} ...", highlight=False)
    else:
        console.print(
            f"[bold]{title}[/] in this process (set PREFECT_API_URL to see runs in a Prefect server) ...",
            highlight=False,
        )
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress, _printed_run_logs(server):
        line = progress.add_task(title, total=None)
        with listening(lambda message: progress.update(line, description=message)):
            yield


def _masked(uri: str) -> str:
    from churnguard.core.config import masked_uri

    return masked_uri(uri)


@contextmanager
def _printed_run_logs(server: str | None) -> Iterator[None]:
    """In-process runs log to ``churnguard.run``: print those lines as Prefect prints a run's logs."""
    import logging

    from rich.logging import RichHandler

    from churnguard.pipelines.orchestration import LOCAL_LOGGER

    if server:  # Prefect prints its runs' logs itself
        yield
        return
    logger = logging.getLogger(LOCAL_LOGGER)
    handler = RichHandler(console=console, show_path=False, markup=False, log_time_format="%H:%M:%S")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)


@contextmanager
def _validated(data: Path | None, as_of: datetime | None, config: Path | None) -> Iterator[str]:
    """Validate and stage the data before Prefect starts, so bad input or settings stop in a second,
    with one message; the flow is handed the staged copy (and validates nothing twice), which goes
    when the command ends."""
    from churnguard.core import interrupt
    from churnguard.core.config import load_settings
    from churnguard.core.data.intake import stage_input
    from churnguard.core.data.stage import remove_stage

    settings = load_settings(_config(config))
    if settings.engine == "postgres":
        where = f"schema {settings.postgres.schema_name} in PostgreSQL"
        console.print(f"Validating the tables of {where} (engine: postgres) ...", style="dim")
    else:
        console.print(f"Validating {data} ...", style="dim")
    stage = stage_input(data, _as_of(as_of), settings)
    for note in stage.notes:
        console.print(f"Note: {note}", style="dim", highlight=False, soft_wrap=True)
    try:
        with interrupt.cleanup_on_abort(lambda: remove_stage(stage, keep=settings.paths.keep_work)):
            yield str(stage.folder)
    finally:
        remove_stage(stage, keep=settings.paths.keep_work)


@contextmanager
def _flow_run(
    title: str, data: Path | None, as_of: datetime | None, config: Path | None
) -> Iterator[tuple[_Flows, str]]:
    """Validate the data first, then load the flows and show their progress: ``(flows, staged folder)``."""
    with _validated(data, as_of, config) as staged:
        flows = _load_flows()
        with _flow_progress(title, flows.server):
            yield flows, staged


class _Flows:
    """The flow modules by name (``flows.score``), each imported when first used: a command pays
    for the libraries of its own flow only, as Prefect, MLflow and XGBoost take seconds to import."""

    def __init__(self) -> None:
        from churnguard.pipelines.orchestration import prefect_api_url, run_flow

        self.run = run_flow
        self.server = prefect_api_url()

    def __getattr__(self, name: str) -> Any:
        import importlib

        return importlib.import_module(f"churnguard.pipelines.{name}")


def _load_flows() -> _Flows:
    console.print("Loading Prefect and MLflow ...", style="dim")
    return _Flows()


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the four tables into.")],
    customers: Annotated[int, typer.Option(help="Number of customers.", min=1)] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 0,
    end: Annotated[str, typer.Option(help="End of the simulated history (YYYY-MM-DD).")] = "2026-10-31",
    plant_save: Annotated[
        float | None,
        typer.Option(
            "--plant-save",
            metavar="SHARE",
            help="Plant a known effect: this share (0..1) of the --risk-list's outreach customers who would "
            "have churned stay; also writes contacts.parquet. Same --customers and --seed as the list's data.",
        ),
    ] = None,
    risk_list: Annotated[
        Path | None,
        typer.Option(
            "--risk-list",
            metavar="FOLDER_OR_PARQUET",
            help="The past list to plant on: output/risk_lists/as_of=YYYY-MM-DD or its risk_list.parquet.",
        ),
    ] = None,
    purchase_rate: Annotated[
        float, typer.Option("--purchase-rate", metavar="FACTOR", help="Multiply every purchase rate (drift).")
    ] = 1.0,
) -> None:
    """Generate realistic sample data (three years of a fictional shop) as Parquet."""

    def body() -> None:
        from churnguard.core.data.generate import generate_sample
        from churnguard.core.data.plant import read_planted_save
        from churnguard.core.errors import BadInputError

        if (plant_save is None) != (risk_list is None):
            raise BadInputError(
                "--plant-save needs --risk-list (the past list to plant on)"
                if risk_list is None
                else "--risk-list needs --plant-save SHARE (0 for contacts without an effect)"
            )
        if not purchase_rate > 0:
            raise BadInputError(f"--purchase-rate must be positive, got {purchase_rate}")
        plant = None if risk_list is None else read_planted_save(risk_list, plant_save, seed)

        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            line = progress.add_task("generating", total=None)
            summary = generate_sample(
                out_dir,
                n_customers=customers,
                seed=seed,
                end=end,
                progress=lambda message: progress.update(line, description=message),
                plant=plant,
                purchase_rate=purchase_rate,
            )
            progress.update(line, description="done", total=1, completed=1)
        out.print(
            f"Wrote {summary.customers:,} customers, {summary.transactions:,} transactions, "
            f"{summary.events:,} events and {summary.subscriptions:,} subscriptions to {out_dir} "
            f"({summary.start.date()} .. {summary.end.date()})."
        )
        if summary.planted:
            p = summary.planted
            out.print(
                f"Planted on the list of {plant.as_of.date()}: {p['would_be_churners']:,} of {p['outreach']:,} "
                f"outreach customers would have churned, {p['saved']:,} saved; {p['control']:,} control "
                f"customers untouched ({p['control_would_be_churners']:,} of them churn); "
                f"{p['contacts']:,} contacts."
            )

    _run(body)


@app.command()
def validate(data: RunDataOption = None, as_of: AsOfOption = None, config: ConfigOption = None) -> None:
    """Check a data directory (or, with engine: postgres, the database's tables) against the contract
    and list every problem (exit 2 when any)."""

    def body() -> None:
        from churnguard.core.config import load_settings
        from churnguard.core.data.dataset import load_dataset
        from churnguard.core.data.intake import data_folder

        settings = load_settings(_config(config))
        if settings.engine == "postgres":
            from churnguard.core.data.postgres_checks import check_database

            check = check_database(settings, _as_of(as_of))
            out.print(check.report.render(), highlight=False, soft_wrap=True)
            out.print(f"{check.where}: as_of {check.as_of.date()}, fingerprint {check.fingerprint}")
            return
        dataset = load_dataset(
            data_folder(data), settings.data, _as_of(as_of), settings.scoring.carry_columns
        )
        out.print(dataset.report.render(), highlight=False, soft_wrap=True)
        out.print(f"as_of {dataset.as_of.date()}, fingerprint {dataset.fingerprint}")

    _run(body)


@app.command("load-postgres")
def load_postgres(
    data: DataOption,
    url: Annotated[
        str | None,
        typer.Option(
            help="postgresql://USER:PASSWORD@HOST:PORT/DB (default: $CHURNGUARD_POSTGRES_URL); never printed.",
            show_default=False,
        ),
    ] = None,
    schema: Annotated[
        str, typer.Option(help="Schema to write the tables into (created if missing).")
    ] = "public",
    config: ConfigOption = None,
) -> None:
    """Validate a data folder and copy its tables into PostgreSQL, replacing them in one transaction.

    Timestamps become timestamptz (UTC), amounts double precision, ids bigint or text as in the data.
    Readers see the old tables or the new ones, never a mix; a failed load changes nothing.
    Exit 2 when the data breaks the contract or the database cannot be reached.
    """

    def body() -> None:
        from churnguard.core.config import load_settings
        from churnguard.core.data import postgres

        settings = load_settings(_config(config))
        target = postgres.resolve_url(url)
        console.print(f"Loading {data} into {_masked(target)}, schema {schema} ...", style="dim")
        with console.status("Loading") as status:
            result = postgres.load_postgres(
                data,
                target,
                settings.data,
                schema=schema,
                carry_columns=settings.scoring.carry_columns,
                progress=lambda message: status.update(message),
            )
        out.print(result.report.render(), highlight=False, soft_wrap=True)
        for name, rows in result.rows.items():
            out.print(f"  {schema}.{name}: {rows:,} rows")
        for name in result.dropped:
            out.print(f"  {schema}.{name}: dropped (the folder has no {name} table)")
        out.print(f"Loaded into {result.url} in {result.seconds:.1f} s.")

    _run(body)


@app.command()
def features(
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Parquet file to write.")],
    data: RunDataOption = None,
    as_of: AsOfOption = None,
    config: ConfigOption = None,
) -> None:
    """Write the point-in-time feature table of every active customer at one cutoff."""

    def body() -> None:
        with _flow_run("Building features", data, as_of, config) as (flows, staged):
            result = flows.run(
                flows.build_features.build_features_flow,
                data_dir=staged,
                out_file=str(out_file),
                config_file=_config(config),
            )
        out.print(f"Features of {result['customers']:,} customers written to {result['path']}")

    _run(body)


@app.command()
def train(
    data: RunDataOption = None,
    as_of: AsOfOption = None,
    horizon_days: Annotated[
        int | None, typer.Option(help="Churn horizon in days (default from config: 90).", min=1)
    ] = None,
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment name.")] = None,
    trials: Annotated[
        int | None, typer.Option(help="Hyper-parameter trials (default from config).", min=1)
    ] = None,
    promote: Annotated[
        bool, typer.Option("--promote", help="Make this model champion whatever its score.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Train an XGBoost churn model on temporal splits, log it to MLflow and promote it if it is better."""

    def body() -> None:
        with _flow_run("Training", data, as_of, config) as (flows, staged):
            result = flows.run(
                flows.train.train_flow,
                data_dir=staged,
                horizon_days=horizon_days,
                experiment=experiment,
                n_trials=trials,
                promote=promote,
                config_file=_config(config),
            )
        m = result["metrics"]
        out.print(
            f"MLflow run: {result['run_id']}  (experiment {result['experiment']}, {result['tracking_uri']})"
        )
        out.print(f"Model: {result['model_name']} version {result['version']}")
        out.print(f"Decision: {result['decision']}")
        folds = int(m["backtest_folds"])
        out.print(
            f"Backtest, mean of {folds} fold{'s' if folds > 1 else ''}: PR AUC {m['test_pr_auc']:.3f} "
            f"(logistic {m['logistic_test_pr_auc']:.3f}, BG/NBD {m['bgnbd_test_pr_auc']:.3f}, recency "
            f"{m['recency_test_pr_auc']:.3f}); ROC AUC {m['test_roc_auc']:.3f}; lift@10% {m['test_lift_at_10']:.2f}"
        )

    _run(body)


@app.command()
def score(
    data: RunDataOption = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder of risk lists (default output/risk_lists).")
    ] = None,
    as_of: AsOfOption = None,
    model_uri: Annotated[
        str | None, typer.Option(help="MLflow model URI (default models:/<name>@champion).")
    ] = None,
    capacity: Annotated[
        int | None, typer.Option(help="Customers the team can contact (top by value at risk).", min=0)
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Score every active customer into an explained risk list (Parquet + CSV + summary.json)."""

    def body() -> None:
        with _flow_run("Scoring", data, as_of, config) as (flows, staged):
            result = flows.run(
                flows.score.score_flow,
                data_dir=staged,
                out_dir=str(out_dir) if out_dir else None,
                model_uri=model_uri,
                capacity=capacity,
                config_file=_config(config),
            )
        _print_risk_summary(result["summary"], result["folder"])

    _run(body)


def _print_risk_summary(summary: dict, folder: str) -> None:
    table = Table(
        title=f"Risk list as of {summary['as_of']} ({summary['model_name']} v{summary['model_version']})"
    )
    table.add_column("tier")
    table.add_column("customers", justify="right")
    table.add_column("value at risk", justify="right")
    for tier, values in summary["tiers"].items():
        table.add_row(tier, f"{values['customers']:,}", f"{values['value_at_risk']:,.0f}")
    out.print(table)
    groups = summary["groups"]
    resting = groups.get("cooldown", 0)
    rest = f", {resting:,} resting after a recent contact (cooldown)" if resting else ""
    out.print(f"Outreach {groups['outreach']:,}, control {groups['control']:,}{rest}. Files: {folder}")
    if summary.get("drift"):
        from churnguard.models.drift_words import drift_line

        style = {"alert": "bold red", "watch": "yellow"}.get(summary["drift"]["status"])
        out.print(drift_line(summary["drift"]), style=style, markup=False)


@app.command()
def report(
    data: RunDataOption = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder of reports (default output/reports).")
    ] = None,
    as_of: AsOfOption = None,
    risk_lists: Annotated[
        Path | None, typer.Option(help="Folder of risk lists (default output/risk_lists).")
    ] = None,
    outcomes: Annotated[
        Path | None,
        typer.Option(help="Folder of outcomes.parquet from `churn outcomes` (default output/outcomes)."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write the retention KPI report (self-contained report.html plus CSV tables)."""

    def body() -> None:
        with _flow_run("Building the retention report", data, as_of, config) as (flows, staged):
            result = flows.run(
                flows.report.report_flow,
                data_dir=staged,
                out_dir=str(out_dir) if out_dir else None,
                risk_lists_dir=str(risk_lists) if risk_lists else None,
                config_file=_config(config),
                outcomes_dir=str(outcomes) if outcomes else None,
            )
        out.print(f"Report: {result['html']}")

    _run(body)


@app.command()
def pipeline(
    data: RunDataOption = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (risk_lists/ and reports/ inside).")
    ] = Path("output"),
    as_of: AsOfOption = None,
    retrain: Annotated[bool, typer.Option("--retrain", help="Train even when a champion exists.")] = False,
    capacity: Annotated[int | None, typer.Option(help="Customers the team can contact.", min=0)] = None,
    config: ConfigOption = None,
) -> None:
    """Validate, train when there is no champion (or with --retrain), score and report."""

    def body() -> dict:
        with _flow_run("Running the churn pipeline", data, as_of, config) as (flows, staged):
            result = flows.run(
                flows.churn_pipeline.churn_pipeline,
                data_dir=staged,
                output_dir=str(out_dir),
                retrain=retrain,
                capacity=capacity,
                config_file=_config(config),
            )
        if result["training"]:
            out.print(f"Training: {result['training']['decision']}")
        _print_risk_summary(result["summary"], result["risk_list"])
        if result.get("outcome_rows"):
            _print_outcomes(result["outcome_rows"], _currency_suffix(config))
        out.print(f"Report: {result['report']}")
        return result

    _run(body)


DEMO_END = "2026-10-31"
DEMO_SAVE = 0.3  # share of would-be churners the demo's past outreach keeps


def _demo_days_back(horizon_days: int) -> int:
    return horizon_days + 7  # the past list's horizon has closed a week before the data ends


def _demo_past_list(
    data: Path, customers: int, out_dir: Path, horizon_days: int, config: Path | None
) -> None:
    """Give the demo a past to look back on: a list made a horizon ago, and outreach that saved some of it.

    Generates the sample, trains and scores as of ``horizon + 7`` days before its end (seeing only the data
    before that day), then regenerates the same customers' future with a known save effect on that
    list's outreach group (and its contacts table), so the pipeline that follows measures the effect.
    """
    generate(out_dir=data, customers=customers, seed=0, end=DEMO_END)
    past = datetime.fromisoformat(DEMO_END) - timedelta(days=_demo_days_back(horizon_days))
    console.print(f"[bold]A list from the past:[/] the pipeline as of {past.date()}, on the data known then")
    pipeline(data=data, out_dir=out_dir, as_of=past, retrain=True, capacity=None, config=config)
    folder = out_dir / "risk_lists" / f"as_of={past.date()}"
    console.print(f"[bold]Outreach on that list kept {DEMO_SAVE:.0%} of its would-be churners[/] (planted)")
    generate(
        out_dir=data,
        customers=customers,
        seed=0,
        end=DEMO_END,
        plant_save=DEMO_SAVE,
        risk_list=folder,
        purchase_rate=1.0,
    )
    console.print("[bold]This week:[/] the pipeline on all the data, measuring the list above")


@app.command()
def demo(
    data: Annotated[Path, typer.Option("--data", "-d", help="Where the sample data goes.")] = Path(
        "data/sample"
    ),
    customers: Annotated[int, typer.Option(help="Sample size.", min=100)] = 20_000,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("output"),
    config: ConfigOption = None,
) -> None:
    """Generate the sample data (if absent) and run the whole pipeline on it."""

    def body() -> None:
        from churnguard.core.config import load_settings

        settings = load_settings(_config(config))
        fresh = not (data / "transactions.parquet").exists()
        if fresh:
            _demo_past_list(data, customers, out_dir, settings.churn.horizon_days, config)
        else:
            console.print(f"Using the sample data already in {data}")
        # A model of this week's data; it replaces the past list's model only if it is better.
        pipeline(data=data, out_dir=out_dir, as_of=None, retrain=fresh, capacity=None, config=config)
        from churnguard.core.config import masked_uri

        uri = masked_uri(settings.tracking.resolved_uri())
        out.print("\n[bold]Next steps[/]")
        out.print(f"  Risk lists:  {out_dir / 'risk_lists'}")
        out.print(f"  Reports:     {out_dir / 'reports'}  (open report.html in a browser)")
        out.print(f"  Outcomes:    {out_dir / 'outcomes'}  (what became of earlier risk lists)")
        out.print(f"  MLflow UI:   .venv/bin/mlflow ui --backend-store-uri {uri} --port 5000")
        out.print("               then open http://127.0.0.1:5000")
        out.print("  Compare runs: .venv/bin/churn runs")

    _run(body)


@app.command()
def runs(
    limit: Annotated[int, typer.Option(help="How many recent runs to list.", min=1)] = 10,
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment (default from config).")] = None,
    config: ConfigOption = None,
) -> None:
    """List recent training runs with their key metrics and the current champion."""

    def body() -> None:
        from churnguard.core.config import load_settings, masked_uri
        from churnguard.models.runs import recent_runs

        settings = load_settings(_config(config))
        frame, champion = recent_runs(settings, limit, experiment)
        if frame.empty:
            uri = masked_uri(settings.tracking.resolved_uri())
            out.print(f"No training runs yet in {uri}: run churn train --data DIR")
            return
        table = Table(title=f"Recent runs in '{experiment or settings.training.experiment}'")
        for column in frame.columns:
            table.add_column(
                column, justify="left" if column in ("run", "started", "as_of", "version") else "right"
            )
        for _, row in frame.iterrows():
            table.add_row(*[_cell(v) for v in row])
        # Piped output has no terminal width; do not squeeze the columns into 80 characters.
        (out if out.is_terminal else Console(width=160)).print(table)
        out.print(f"Champion: {champion}" if champion else "Champion: none yet")

    _run(body)


@app.command()
def outcomes(
    data: RunDataOption = None,
    risk_lists: Annotated[
        Path | None, typer.Option(help="Folder of past risk lists (default output/risk_lists).")
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for outcomes.parquet and .csv (default output/outcomes)."),
    ] = None,
    as_of: AsOfOption = None,
    config: ConfigOption = None,
) -> None:
    """Measure past risk lists on what happened since: realised churn, and the save rate of outreach vs control."""

    def body() -> None:
        with _flow_run("Measuring past risk lists", data, as_of, config) as (flows, staged):
            result = flows.run(
                flows.outcomes.outcomes_flow,
                data_dir=staged,
                risk_lists_dir=str(risk_lists) if risk_lists else None,
                out_dir=str(out_dir) if out_dir else None,
                config_file=_config(config),
            )
        if not result["rows"]:
            out.print("No risk list made before the data's end: nothing to measure yet.")
            return
        _print_outcomes(result["rows"], _currency_suffix(config))
        out.print(f"Outcomes: {result['path']}")

    _run(body)


def _print_outcomes(rows: list[dict], currency: str = "") -> None:
    """Per list: how right it was, then what outreach did against its random control group."""
    from churnguard.models.outcomes import slices_by_list

    for day, slices in slices_by_list(rows).items():
        overall = slices["all"]
        observed = (
            "closed"
            if overall["status"] == "closed"
            else f"partial: {overall['days_observed']} of {overall['horizon_days']} days so far"
        )
        out.print(f"[bold]List of {day}[/] ({observed}), model v{overall['model_version']}")
        out.print(
            f"  How right: ROC AUC {overall['roc_auc']:.3f}, lift in the top 10% {overall['lift_at_10']:.1f}x; "
            f"churn predicted {overall['predicted_churn_rate']:.1%}, realised {overall['realised_churn_rate']:.1%} "
            "(customers outreach did not touch)"
        )
        for key, label in (("outreach", "Outreach vs control"), ("contacted", "Contacted vs control")):
            row = slices.get(key)
            if row is None:
                continue
            if key == "contacted" and row["customers"] == slices["outreach"]["customers"]:
                out.print("  Contacts: every outreach customer has a contact in the contacts table")
                continue
            if row["effect"] != row["effect"]:  # NaN: the list had no control group
                out.print(f"  {label}: no control group to compare with")
                continue
            control = slices["control"]
            note = "" if row["randomised"] else " (not randomised: who was reached is not chance)"
            out.print(
                f"  {label}{note}: churn {row['realised_churn_rate']:.1%} of {row['customers']:,} vs "
                f"{control['realised_churn_rate']:.1%} of {control['customers']:,}: "
                f"{row['effect'] * 100:+.1f} points (95% interval {row['effect_low'] * 100:+.1f} to "
                f"{row['effect_high'] * 100:+.1f}), save rate {_share(row['save_rate'])}"
            )
            money = (
                f"contacts cost {row['contact_cost']:,.0f}{currency}, value kept {row['retained_value']:,.0f}{currency}, "
                f"return {_share(row['roi'], '+.0%')} ({_share(row['roi_low'], '+.0%')} to {_share(row['roi_high'], '+.0%')})"
            )
            if row["conclusive"]:
                out.print(f"    {money}")
            else:
                needed = row["needed_per_group"]
                size = (
                    f"; about {needed:,.0f} customers per group would be needed" if needed == needed else ""
                )
                out.print(f"    {money}; too few customers to tell from no effect{size}")


def _currency_suffix(config: Path | None) -> str:
    from churnguard.core.config import load_settings

    currency = load_settings(_config(config)).report.currency
    return f" {currency}" if currency else ""


def _share(value: float, spec: str = ".0%") -> str:
    return "-" if value != value else format(value, spec)


@app.command()
def lookup(
    customer_id: Annotated[
        str, typer.Option("--customer-id", "-i", help="The customer, as the data writes the id.")
    ],
    data: Annotated[
        Path | None, typer.Option("--data", "-d", help="Data directory: adds the customer's history.")
    ] = None,
    risk_lists: Annotated[
        Path | None, typer.Option(help="Folder of risk lists (default output/risk_lists).")
    ] = None,
    as_of: AsOfOption = None,
    config: ConfigOption = None,
) -> None:
    """Show one customer: probability, tier, reasons and action on the newest list, earlier tiers, history.

    Reads the risk lists already written (no model is loaded); with --data, also that customer's
    purchases, events and subscriptions up to the data's as_of. Exit 2 when the id is on no list.
    """

    def body() -> None:
        from churnguard.core.config import load_settings
        from churnguard.core.errors import BadInputError
        from churnguard.reports.lookup import find_on_lists, history_summary

        settings = load_settings(_config(config))
        found = find_on_lists(risk_lists or settings.paths.risk_lists, customer_id, _as_of(as_of))
        history = []
        if data is not None:
            from churnguard.core.data.dataset import load_dataset

            history = history_summary(load_dataset(data, settings.data, _as_of(as_of)), customer_id)
        if found.row is None and not history:
            raise BadInputError(
                f"customer {customer_id!r} is not on the risk list {found.list_path} ({found.list_size:,} "
                "active customers)"
                + ("" if data else "; pass --data DIR to look in the data too")
                + (" nor in the data" if data else "")
            )
        _print_lookup(found, history)

    _run(body)


def _print_lookup(found, history: list[tuple[str, str]]) -> None:
    from churnguard.models.scoring import CONTROL_ACTION

    table = Table(title=f"Customer {found.customer_id}", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    row = found.row
    if row is None:
        table.add_row("Risk list", f"not on {found.list_path.parent.name} (not active at its date)")
    else:
        table.add_row(
            "Risk list", f"{found.list_path.parent.name}, rank {row['rank']:,} of {found.list_size:,}"
        )
        table.add_row("Churn probability", f"{row['churn_probability']:.0%} (risk tier {row['risk_tier']})")
        if row.get("previous_tier"):
            table.add_row("Previous list", f"tier {row['previous_tier']}")
        table.add_row(
            "Value at risk", f"{row['value_at_risk']:,.2f} of customer value {row['customer_value']:,.2f}"
        )
        for slot in (1, 2, 3):
            if row.get(f"reason_{slot}"):
                table.add_row(f"Reason {slot}", str(row[f"reason_{slot}"]))
        action = row["suggested_action"]
        table.add_row("Group", str(row["group"]))
        table.add_row(
            "Suggested action", CONTROL_ACTION if row["group"] == "control" else str(action or "none")
        )
    if found.earlier:
        table.add_row(
            "Earlier lists", ", ".join(f"{day} {tier} {p:.0%}" for day, tier, p in found.earlier[-6:])
        )
    for what, value in history:
        table.add_row(what, value)
    (out if out.is_terminal else Console(width=160)).print(table)


@app.command()
def forget(
    customer_id: Annotated[
        list[str] | None,
        typer.Option(
            "--customer-id", "-i", help="A customer to forget, as the data writes the id; repeatable."
        ),
    ] = None,
    ids_file: Annotated[
        Path | None, typer.Option("--ids-file", help="Text file of customer ids to forget, one a line.")
    ] = None,
    risk_lists: Annotated[
        Path | None, typer.Option(help="Folder of risk lists (default output/risk_lists).")
    ] = None,
    reports: Annotated[Path | None, typer.Option(help="Folder of reports (default output/reports).")] = None,
    files: Annotated[
        list[Path] | None,
        typer.Option(
            "--file", help="Another Parquet or CSV table to clean, e.g. from churn features; repeatable."
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Remove customers from every risk list, report table and staged copy of the data.

    Tables are rewritten without their rows and swapped in atomically.
    Staged copies of the data (paths.work) that hold them are deleted.
    Prints each file touched and the rows removed, never the rows themselves.
    A second run changes nothing. Exit 2 when no id is given or a file cannot be read.
    """

    def body() -> None:
        from churnguard.core.config import load_settings
        from churnguard.core.forget import forget_customers, read_ids_file

        ids = [*(customer_id or []), *(read_ids_file(ids_file) if ids_file else [])]
        settings = load_settings(_config(config))
        result = forget_customers(
            ids,
            outputs=[risk_lists or settings.paths.risk_lists, reports or settings.paths.reports],
            work=settings.paths.work,
            files=files or [],
        )
        if not result.touched:
            out.print(
                f"Nothing to remove: no row of the {result.ids:,} ids in {result.checked:,} files checked."
            )
            return
        table = Table(title=f"Forgot {result.ids:,} customer ids")
        for column, justify in (("file or folder", "left"), ("action", "left"), ("rows removed", "right")):
            table.add_column(column, justify=justify)
        for touched in result.touched:
            table.add_row(str(touched.path), touched.action, f"{touched.rows:,}")
        (out if out.is_terminal else Console(width=200)).print(table)
        if any(t.action == "removed" for t in result.touched):
            out.print("Removed pages showed rows of these customers: rebuild them with churn report.")
        out.print(
            f"Done: {result.rows:,} rows removed; {len(result.touched):,} files or folders changed "
            f"of {result.checked:,} files checked."
        )

    _run(body)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.3f}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)


def main() -> None:
    """Console-script entry point.

    Ends the process once the command is done and the exit handlers (log flushing included) have run:
    Python's own teardown of the loaded libraries takes another 1-2 s and does nothing a user needs.
    """
    try:
        app()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if isinstance(done.code, str):
            console.print(done.code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
