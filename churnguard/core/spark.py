"""The Spark session of ``engine: spark``, configured the way churnguard's queries need it.

Whatever the cluster's defaults, the session computes in UTC: Spark reads and prints timestamps in
``spark.sql.session.timeZone``, and a cutoff at midnight must mean midnight UTC on every executor, as
it does on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import os
import sys

from churnguard.core.config import SparkSettings


def spark_session(settings: SparkSettings):
    """The process's Spark session: the one already running (a notebook on a cluster), or a new one.

    Args:
        settings: master, application name, extra configuration, shuffle partitions.

    Returns:
        A ``pyspark.sql.SparkSession`` with its time zone set to UTC.
    """
    from pyspark.sql import SparkSession

    # Executors run the same Python as the driver (mapInPandas, XGBoost), not whatever `python3` is
    # first on a worker's PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = SparkSession.getActiveSession()
    if session is None:
        builder = (
            SparkSession.builder.master(settings.master)
            .appName(settings.app_name)
            .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
            # Progress bars would interleave with churnguard's own progress lines.
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        )
        for key, value in settings.conf.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
    session.conf.set("spark.sql.session.timeZone", "UTC")
    return session
