"""Flows run two ways: as Prefect runs when a Prefect API is configured, or in-process without one.

A command started without ``PREFECT_API_URL`` used to start Prefect's ephemeral server: about 9 s
(3 s to import the server, 5.5 s for its process to answer) before any work, on every command. With
no server configured nobody can look at those runs anyway, so the CLI then calls the flow's own
function and the flow calls its tasks as plain functions, with the same retry policy. A configured
API (``PREFECT_API_URL`` in the environment or the Prefect profile) gets real flow and task runs,
artifacts and logs, as do deployments run by a worker.

Flows use :func:`step` for their tasks and sub-flows, :func:`run_logger` for logs and
:func:`publish_markdown`/:func:`publish_table` for artifacts; each does the Prefect thing inside a
Prefect run and the plain thing outside one.
"""

from __future__ import annotations

import logging
import time
from typing import Any, TypeVar

from prefect import Flow, Task, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import FlowRunContext, TaskRunContext
from prefect.settings import get_current_settings

from churnguard.core import interrupt
from churnguard.core.errors import BadInputError

R = TypeVar("R")
LOCAL_LOGGER = "churnguard.run"


def prefect_api_url() -> str | None:
    """The Prefect API this process reports to (environment or active profile), or None."""
    return get_current_settings().api.url or None


def in_prefect_run() -> bool:
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def run_flow(flow: Flow[..., R], **parameters: Any) -> R:
    """Run ``flow``: a Prefect flow run when an API is configured, else its function in-process."""
    if prefect_api_url():
        return flow(**parameters)
    return flow.fn(**parameters)


def step(work: Task[..., R] | Flow[..., R], *args: Any, **kwargs: Any) -> R:
    """Call a task or sub-flow from a flow: a Prefect run inside a Prefect run, a plain call outside one.

    Plain task calls keep the task's retries and delays, and never retry bad input. No task starts
    after Ctrl-C, even if the interrupt was swallowed on its way (see :mod:`churnguard.core.interrupt`).
    """
    interrupt.check()
    if in_prefect_run():
        return work(*args, **kwargs)
    if isinstance(work, Flow):
        return work.fn(*args, **kwargs)
    return _with_retries(work, args, kwargs)


def _with_retries(task: Task[..., R], args: tuple, kwargs: dict) -> R:
    delays = task.retry_delay_seconds
    for attempt in range(task.retries + 1):
        try:
            return task.fn(*args, **kwargs)
        except BadInputError:
            raise
        except Exception as error:
            if attempt == task.retries:
                raise
            delay = delays[attempt] if isinstance(delays, list) else (delays or 0)
            run_logger().warning(
                f"{task.name} failed ({type(error).__name__}: {error}); retry {attempt + 1} of "
                f"{task.retries} in {delay:g} s"
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run logger inside a run, else the ``churnguard.run`` logger the CLI prints."""
    return get_run_logger() if in_prefect_run() else logging.getLogger(LOCAL_LOGGER)


def publish_markdown(key: str, markdown: str, description: str | None = None) -> None:
    """A Markdown artifact on the Prefect run; outside a run the CLI prints its own summary."""
    if in_prefect_run():
        create_markdown_artifact(key=key, markdown=markdown, description=description)


def publish_table(key: str, table: list[dict[str, Any]], description: str | None = None) -> None:
    """A table artifact on the Prefect run; outside a run the CLI prints its own summary."""
    if in_prefect_run():
        create_table_artifact(key=key, table=table, description=description)
