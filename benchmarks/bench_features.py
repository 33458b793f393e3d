"""Time the point-in-time feature engine on 1M customers against a plain pandas yardstick.

Usage: python benchmarks/bench_features.py [--data /tmp/cg_bench_1m] [--customers 1000000]
       [--only ibis-one ibis-twelve pandas-one pandas-twelve sql-one postgres-one postgres-twelve
               spark-one spark-twelve]
       [--memory-limit 1GB] [--threads 2] [--schema bench]

Generates the data with ``generate_sample`` unless ``--data`` already holds it (~10 transactions and
~20 events per customer over 3 years). Each measurement runs in a fresh subprocess that reports its
wall time, CPU time and peak resident memory (``ru_maxrss``, and psutil sampling):

- ``ibis-one``: ``build_features`` for one cutoff (the day after the last transaction) into pandas,
  spec discovery included;
- ``ibis-twelve``: ``write_feature_table`` for twelve cutoffs 30 days apart, computed and streamed to
  Parquet one cutoff at a time over shared inputs (as training sets are written);
- ``sql-one``: a floor, not a competitor: one hand-written DuckDB query for one cutoff with only
  the cheapest ~35 columns (window counts, spend and maxima, all-history totals, the spread of
  purchase gaps, event counts per type and window, last event per type) into Arrow;
- ``postgres-one`` / ``postgres-twelve``: the same as ``ibis-*`` with ``engine: postgres`` on the
  server at ``CHURNGUARD_POSTGRES_URL`` (the data is copied into ``--schema`` first unless it is
  there); peak memory is this process's, the server's is not counted. Not in the default set;
- ``spark-one`` / ``spark-twelve``: ``engine: spark`` in a ``local[*]`` session: the scoring frame of
  one cutoff collected into pandas, and a labelled training set of twelve cutoffs written by Spark's
  writer partitioned by cutoff (as the training flow writes it). Peak memory adds Spark's JVM and its
  Python workers to this process. Not in the default set;
- ``pandas-one`` / ``pandas-twelve``: the same core features (recency, tenure, RFM windows, gaps,
  engagement counts, active days and recency per event type, RFM scores) written in idiomatic
  pandas, kept here as the yardstick; twelve cutoffs are computed one after another and streamed
  to Parquet. The pandas version computes about 60 columns, the engine about 80.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from measure import GIB, RssSampler  # benchmarks/ is on sys.path when a script runs

CASES = (
    "ibis-one",
    "ibis-twelve",
    "pandas-one",
    "pandas-twelve",
    "sql-one",
    "postgres-one",
    "postgres-twelve",
    "spark-one",
    "spark-twelve",
)
DEFAULT_CASES = CASES[:5]
TARGETS = {
    "ibis-one": 2.5,
    "ibis-twelve": 15.0,
    "postgres-one": 2.5,
    "postgres-twelve": 15.0,
}  # seconds, on the 2-core benchmark machine
TARGET_PEAK_GIB = 2.0
N_CUTOFFS, EVERY_DAYS = 12, 30
DAY = pd.Timedelta(days=1)
WINDOWS, EVENT_WINDOWS, LOOKBACK = (30, 90, 180, 365), (30, 90), 365
TABLES = ("customers", "transactions", "events", "subscriptions")


def ensure_data(data: Path, customers: int, seed: int) -> None:
    """Generate the sample into ``data`` unless its tables are already there."""
    if all((data / f"{name}.parquet").exists() for name in TABLES):
        print(f"reusing {data}")
        return
    from churnguard.core.data.generate import generate_sample

    began = time.perf_counter()
    summary = generate_sample(data, n_customers=customers, seed=seed)
    print(
        f"generated {summary.customers:,} customers, {summary.transactions:,} transactions, "
        f"{summary.events:,} events in {time.perf_counter() - began:.0f} s"
    )


def last_cutoff(data: Path) -> pd.Timestamp:
    """The day after the newest transaction, read from the Parquet statistics."""
    meta = pq.ParquetFile(data / "transactions.parquet").metadata
    column = meta.schema.names.index("ts")
    newest = max(meta.row_group(i).column(column).statistics.max for i in range(meta.num_row_groups))
    return pd.Timestamp(newest).tz_convert("UTC").floor("D") + DAY


def cutoffs_for(case: str, as_of: pd.Timestamp) -> list[pd.Timestamp]:
    n = N_CUTOFFS if case.endswith("twelve") else 1
    return [as_of - EVERY_DAYS * DAY * k for k in reversed(range(n))]


# ---------------------------------------------------------------------------------------------------
# A floor: the cheapest part of the features in one hand-written DuckDB query


def run_sql(data: Path, cutoff: pd.Timestamp) -> int:
    import duckdb

    con = duckdb.connect()
    for name, columns in (("tx", "customer_id, ts, amount"), ("ev", "customer_id, ts, event_type")):
        table = "transactions" if name == "tx" else "events"
        naive = columns.replace("ts", "make_timestamp(epoch_us(ts)) AS ts")
        con.sql(f"CREATE VIEW {name} AS SELECT {naive} FROM '{data / table}.parquet'")
    c = f"TIMESTAMP '{cutoff.tz_convert(None)}'"

    def inside(days: int) -> str:
        return f"ts >= {c} - INTERVAL {days} DAY"

    tx = [
        f"count(*) FILTER (WHERE amount > 0 AND {inside(w)}) AS n_{w}, "
        f"sum(amount) FILTER (WHERE {inside(w)}) AS s_{w}, "
        f"max(amount) FILTER (WHERE amount > 0 AND {inside(w)}) AS m_{w}"
        for w in WINDOWS
    ]
    types = [row[0] for row in con.sql("SELECT DISTINCT event_type FROM ev").fetchall()]
    ev = [
        f"count(*) FILTER (WHERE event_type = '{t}' AND {inside(w)}) AS c{i}_{w}"
        for i, t in enumerate(types)
        for w in EVENT_WINDOWS
    ] + [f"max(ts) FILTER (WHERE event_type = '{t}') AS last_{i}" for i, t in enumerate(types)]
    query = f"""
    WITH t AS (SELECT customer_id, {", ".join(tx)}, count(*) FILTER (WHERE amount > 0) AS n,
                      sum(amount) AS s, min(ts) AS first_ts, max(ts) FILTER (WHERE amount > 0) AS last_ts
               FROM tx WHERE ts < {c} GROUP BY customer_id),
         g AS (SELECT customer_id, stddev(gap) AS gap_sd
               FROM (SELECT customer_id, epoch(ts - lag(ts) OVER (PARTITION BY customer_id ORDER BY ts)) AS gap
                     FROM tx WHERE ts < {c} AND amount > 0)
               GROUP BY customer_id),
         e AS (SELECT customer_id, {", ".join(ev)} FROM ev WHERE ts < {c} GROUP BY customer_id)
    SELECT * FROM t LEFT JOIN g USING (customer_id) LEFT JOIN e USING (customer_id)
    WHERE t.n_{LOOKBACK} > 0
    """
    return con.sql(query).to_arrow_table().num_rows


# ---------------------------------------------------------------------------------------------------
# The engine


def run_ibis(
    data: Path, cutoffs: list[pd.Timestamp], out: Path, threads: int | None, memory: str | None
) -> int:
    from churnguard.core.config import Settings
    from churnguard.features.build import build_features, discover_spec, write_feature_table
    from churnguard.features.source import source_from_parquet

    settings = Settings(features={"duckdb_threads": threads, "duckdb_memory_limit": memory})
    source = source_from_parquet(data, settings.features)
    if len(cutoffs) == 1:
        return len(build_features(source, cutoffs[0], settings))
    write_feature_table(source, cutoffs, settings, discover_spec(source), out)
    return pq.ParquetFile(out).metadata.num_rows


def run_postgres(data: Path, cutoffs: list[pd.Timestamp], out: Path, schema: str) -> int:
    from churnguard.core.config import Settings
    from churnguard.features.build import build_features, discover_spec, write_feature_table
    from churnguard.features.source_postgres import source_from_postgres

    settings = Settings(engine="postgres", postgres={"schema_name": schema})
    source = source_from_postgres(settings, cutoffs[-1])  # the newest cutoff: every row before it
    if len(cutoffs) == 1:
        return len(build_features(source, cutoffs[0], settings))
    write_feature_table(source, cutoffs, settings, discover_spec(source), out)
    return pq.ParquetFile(out).metadata.num_rows


def run_spark(data: Path, cutoffs: list[pd.Timestamp], out: Path, driver_memory: str) -> int:
    from churnguard.core.config import Settings
    from churnguard.features.build import discover_spec
    from churnguard.features.source_spark import scoring_features, source_from_spark, write_training_set

    settings = Settings(engine="spark", spark={"conf": {"spark.driver.memory": driver_memory}})
    source = source_from_spark(data, settings)
    spec = discover_spec(source)
    if len(cutoffs) == 1:
        return len(scoring_features(source, cutoffs[0], settings, spec)[1])
    return write_training_set(source, cutoffs, settings, spec, out)


def ensure_postgres(data: Path, schema: str) -> None:
    """Copy the data folder into ``schema`` unless its transactions are there with the same rows."""
    import psycopg

    from churnguard.core.config import DataSettings
    from churnguard.core.data.postgres import load_postgres, resolve_url

    url = resolve_url(None)
    rows = pq.ParquetFile(data / "transactions.parquet").metadata.num_rows
    with psycopg.connect(url) as connection:
        found = connection.execute(
            "SELECT reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = 'transactions'",
            [schema],
        ).fetchall()
    if found and found[0][0] == rows:
        print(f"reusing schema {schema}")
        return
    began = time.perf_counter()
    done = load_postgres(data, url, DataSettings(), schema=schema)
    print(
        f"loaded {sum(done.rows.values()):,} rows into schema {schema} in {time.perf_counter() - began:.0f} s"
    )


# ---------------------------------------------------------------------------------------------------
# The pandas yardstick


def pandas_features(
    tx: pd.DataFrame, ev: pd.DataFrame, types: list[str], cutoff: pd.Timestamp
) -> pd.DataFrame:
    """Core features of the active customers at ``cutoff``; ``tx`` and ``ev`` sorted by customer and time."""
    past = tx[tx["ts"] < cutoff]
    buys = past[past["amount"] > 0]
    active = buys.loc[buys["ts"] >= cutoff - LOOKBACK * DAY, "customer_id"].unique()

    by_customer = buys.groupby("customer_id")
    out = pd.DataFrame(
        {
            "n_purchases": by_customer.size(),
            "spend_mean": by_customer["amount"].mean(),
            "spend_max": by_customer["amount"].max(),
            "recency_days": (cutoff - by_customer["ts"].max()) / DAY,
            "tenure_days": (cutoff - by_customer["ts"].min()) / DAY,
        }
    ).reindex(active)
    out["spend_total"] = past.groupby("customer_id")["amount"].sum()
    gaps = by_customer["ts"].diff() / DAY
    out["gap_mean_days"] = gaps.groupby(buys["customer_id"]).mean()
    out["gap_std_days"] = gaps.groupby(buys["customer_id"]).std()
    out["overdue_ratio"] = out["recency_days"] / out["gap_mean_days"].where(out["gap_mean_days"] > 0)
    for w in WINDOWS:
        window = past[past["ts"] >= cutoff - w * DAY]
        bought = window[window["amount"] > 0].groupby("customer_id")["amount"]
        out[f"n_purchases_{w}d"] = bought.size().reindex(active, fill_value=0)
        out[f"spend_total_{w}d"] = (
            window.groupby("customer_id")["amount"].sum().reindex(active, fill_value=0.0)
        )
        out[f"spend_mean_{w}d"] = bought.mean()
        out[f"spend_max_{w}d"] = bought.max()

    seen = ev[ev["ts"] < cutoff]
    last = seen.groupby(["customer_id", "event_type"])["ts"].max().unstack().reindex(columns=types)
    out = out.join(((cutoff - last) / DAY).add_prefix("evt_").add_suffix("_days_since"))
    for w in EVENT_WINDOWS:
        window = seen[seen["ts"] >= cutoff - w * DAY]
        keys = [window["customer_id"], window["event_type"]]
        counts = window.groupby(keys).size().unstack().reindex(columns=types)
        days = window["ts"].dt.floor("D").groupby(keys).nunique().unstack().reindex(columns=types)
        out = out.join(counts.add_prefix("evt_").add_suffix(f"_count_{w}d"))
        out = out.join(days.add_prefix("evt_").add_suffix(f"_active_days_{w}d"))
    counted = [c for c in out.columns if "_count_" in c or "_active_days_" in c]
    out[counted] = out[counted].fillna(0)

    lookback = f"n_purchases_{LOOKBACK}d", f"spend_total_{LOOKBACK}d"
    for name, values in (
        ("rfm_r", -out["recency_days"]),
        ("rfm_f", out[lookback[0]]),
        ("rfm_m", out[lookback[1]]),
    ):
        rank = values.rank(method="min", pct=False).sub(1) / max(len(values) - 1, 1)
        out[name] = np.minimum(5, np.floor(rank * 5) + 1)
    return out.astype("float64").reset_index(names="customer_id").assign(cutoff=cutoff)


def run_pandas(data: Path, cutoffs: list[pd.Timestamp], out: Path) -> int:
    tx = pd.read_parquet(data / "transactions.parquet", columns=["customer_id", "ts", "amount"])
    ev = pd.read_parquet(data / "events.parquet", columns=["customer_id", "ts", "event_type"])
    tx = tx.sort_values(["customer_id", "ts"], ignore_index=True)
    ev = ev.sort_values(["customer_id", "ts"], ignore_index=True)
    types = sorted(ev["event_type"].unique())
    rows, writer = 0, None
    for cutoff in cutoffs:
        frame = pandas_features(tx, ev, types, cutoff)
        rows += len(frame)
        if len(cutoffs) > 1:  # stream each cutoff to Parquet, as the engine does
            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pq.ParquetWriter(out, table.schema)
            writer.write_table(table)
    if writer:
        writer.close()
    return rows


# ---------------------------------------------------------------------------------------------------
# Measuring


def child(args: argparse.Namespace) -> None:
    """One measurement in this (fresh) process; prints a JSON line."""
    cutoffs = cutoffs_for(args.child, pd.Timestamp(args.as_of))
    if args.child.startswith(
        ("ibis", "postgres", "spark")
    ):  # imports are not measured (pandas is loaded too)
        import churnguard.features.build
        import churnguard.features.source
        import churnguard.features.source_postgres  # noqa: F401
    sampler = RssSampler(children=args.child.startswith("spark"))
    sampler.start()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "features.parquet"
        if args.child.startswith("ibis"):
            rows = run_ibis(args.data, cutoffs, out, args.threads, args.memory_limit)
        elif args.child.startswith("postgres"):
            rows = run_postgres(args.data, cutoffs, out, args.schema)
        elif args.child.startswith("spark"):
            rows = run_spark(args.data, cutoffs, out, args.driver_memory)
        elif args.child == "sql-one":
            rows = run_sql(args.data, cutoffs[0])
        else:
            rows = run_pandas(args.data, cutoffs, out)
    wall = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = max(sampler.stop(), usage.ru_maxrss * 1024)  # ru_maxrss is in KiB on Linux
    print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak": peak, "rows": rows}))


def measure(case: str, args: argparse.Namespace, as_of: pd.Timestamp) -> dict:
    command = [sys.executable, __file__, "--child", case, "--data", str(args.data), "--as-of", str(as_of)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.memory_limit:
        command += ["--memory-limit", args.memory_limit]
    command += ["--schema", args.schema, "--driver-memory", args.driver_memory]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{case} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/cg_bench_1m"))
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", choices=CASES, default=list(DEFAULT_CASES))
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all cores)")
    parser.add_argument(
        "--memory-limit", default=None, help="DuckDB memory limit, e.g. 1.5GB (default: none)"
    )
    parser.add_argument("--schema", default="bench", help="PostgreSQL schema of the postgres-* cases")
    parser.add_argument("--driver-memory", default="8g", help="spark.driver.memory of the spark-* cases")
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    ensure_data(args.data, args.customers, args.seed)
    if any(case.startswith("postgres") for case in args.only):
        ensure_postgres(args.data, args.schema)
    as_of = last_cutoff(args.data)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"cutoff {as_of.date()} (twelve: every {EVERY_DAYS} days back from it); load average {load}")
    results = {}
    for case in args.only:
        results[case] = measure(case, args, as_of)
        r = results[case]
        target = TARGETS.get(case)
        verdict = ""
        if target:
            ok = r["wall"] <= target and r["peak"] <= TARGET_PEAK_GIB * GIB
            verdict = f"  target {target:.1f} s / {TARGET_PEAK_GIB:.0f} GiB: {'met' if ok else 'MISSED'}"
        print(
            f"{case:14} {r['wall']:7.1f} s wall {r['cpu']:7.1f} s cpu {r['peak'] / GIB:6.2f} GiB peak "
            f"{r['rows']:>10,} rows{verdict}",
            flush=True,
        )
    for n, label in (("one", "one cutoff"), ("twelve", "twelve cutoffs")):
        engine, yardstick = results.get(f"ibis-{n}"), results.get(f"pandas-{n}")
        if engine and yardstick:
            print(
                f"{label:>14}: engine / pandas = {engine['wall'] / yardstick['wall']:.2f}x wall time, "
                f"{engine['peak'] / yardstick['peak']:.2f}x peak memory"
            )
    if results.get("ibis-one") and results.get("sql-one"):
        ratio = results["ibis-one"]["wall"] / results["sql-one"]["wall"]
        print(
            f"    one cutoff: engine / hand-written SQL floor (~35 of the columns) = {ratio:.2f}x wall time"
        )


if __name__ == "__main__":
    main()
