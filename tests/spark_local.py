"""A local Spark session for the tests: ``local[2]``, no web UI, UTC, the machine's Java.

Use the session fixture ``spark`` (import it into a test module: ``from tests.spark_local import
spark``). One JVM serves the whole test session: starting one costs ~8 s.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from churnguard.core.config import SparkSettings
from churnguard.core.spark import spark_session

TEST_SETTINGS = SparkSettings(
    master="local[2]",
    app_name="churnguard-tests",
    shuffle_partitions=4,
    conf={"spark.ui.enabled": "false", "spark.driver.memory": "2g"},
)


@pytest.fixture(scope="session")
def spark() -> Iterator:
    """A local Spark session; without a Java runtime the tests fail (``make test`` installs one)."""
    if shutil.which("java") is None:
        pytest.fail("Spark needs a Java runtime (17): apt-get install openjdk-17-jre-headless")
    session = spark_session(TEST_SETTINGS)
    yield session
    session.stop()
