"""Retries and failures never corrupt the registry: one run and one version per training, aliases moved
last and only on a decision, a failing store never taken for "no champion yet"."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from churnguard.core.config import RegistrySettings, Settings
from churnguard.models.registry import CHALLENGER, CHAMPION, champion_version, promote, register_version
from churnguard.models.tracking import MODEL_URI_TAG, RUN_KEY_TAG, configure_tracking, log_training_run
from tests.pipelines.servers import free_port, mlflow_server_command, start_server, stop_server


def _registry(settings: Settings, name: str) -> Settings:
    return settings.model_copy(update={"registry": RegistrySettings(model_name=name)})


def _aliases(client: MlflowClient, name: str) -> dict[str, str]:
    return {alias: str(v) for alias, v in client.get_registered_model(name).aliases.items()}


def test_a_retried_logging_returns_the_run_and_deletes_a_partial_attempt(tracking, runs, trained, sample):
    settings = runs.settings
    experiment = mlflow.get_experiment_by_name(settings.training.experiment).experiment_id
    key = "retry-of-one-training"
    # An earlier attempt died while logging: a run with the key but without the model.
    with mlflow.start_run(tags={RUN_KEY_TAG: key}) as partial:
        mlflow.log_param("cutoffs.train_last", "2026-01-01")
    as_of, fingerprint = sample.dataset.as_of, sample.dataset.fingerprint

    first = log_training_run(trained, settings, as_of, fingerprint, run_key=key)
    again = log_training_run(trained, settings, as_of, fingerprint, run_key=key)

    assert again == first
    assert tracking.get_run(partial.info.run_id).info.lifecycle_stage == "deleted"
    live = tracking.search_runs([experiment], filter_string=f"tags.`{RUN_KEY_TAG}` = '{key}'")
    assert [r.info.run_id for r in live] == [first.run_id]
    assert live[0].data.tags[MODEL_URI_TAG] == first.model_uri


def test_retries_register_one_version_and_repeat_the_recorded_decision(runs, trained, weak, tracking):
    settings = _registry(runs.settings, "churnguard-retried")
    name = settings.registry.model_name
    first = register_version(tracking, settings, runs.weak.model_uri, runs.weak.run_id)
    assert register_version(tracking, settings, runs.weak.model_uri, runs.weak.run_id) == first
    promote(tracking, settings, first, runs.weak.run_id, *weak.evaluation)

    second = register_version(tracking, settings, runs.good.model_uri, runs.good.run_id)
    decided = promote(tracking, settings, second, runs.good.run_id, *trained.evaluation)
    # The aliases moved, then the task "failed" and was retried: the retry must not compare the
    # version with itself (now the champion) and take the promotion back.
    retried = promote(tracking, settings, second, runs.good.run_id, *trained.evaluation)

    assert decided.promoted and "beats champion v1" in decided.reason
    assert (retried.promoted, retried.reason, retried.champion_version) == (True, decided.reason, "1")
    assert retried.challenger_score == pytest.approx(decided.challenger_score, abs=1e-6)
    assert len(tracking.search_model_versions(f"name='{name}'")) == 2
    assert _aliases(tracking, name) == {CHAMPION: second, CHALLENGER: second}


@pytest.fixture
def mlflow_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """A real `mlflow server` on 127.0.0.1 that the test can stop and start again on the same store."""
    port = free_port()
    command = mlflow_server_command(port, tmp_path)
    url = f"http://127.0.0.1:{port}"
    # Fail fast on a stopped server instead of MLflow's default minutes of retries.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    server = {"process": None}

    def start() -> None:
        server["process"] = start_server(command, dict(os.environ), tmp_path / "mlflow.log", f"{url}/health")

    def stop() -> None:
        stop_server(server["process"])

    start()
    try:
        yield {"start": start, "stop": stop}
    finally:
        stop()


@pytest.mark.slow
def test_a_store_that_fails_mid_run_is_never_taken_for_no_champion(
    mlflow_server, store_settings, trained, weak, sample
):
    settings = store_settings  # its tracking URI: the server's, from MLFLOW_TRACKING_URI
    name = settings.registry.model_name
    client = configure_tracking(settings)
    as_of, fingerprint = sample.dataset.as_of, sample.dataset.fingerprint
    weak_run = log_training_run(weak, settings, as_of, fingerprint, run_key="weak")
    first = register_version(client, settings, weak_run.model_uri, weak_run.run_id)
    assert promote(client, settings, first, weak_run.run_id, *weak.evaluation).promoted
    good_run = log_training_run(trained, settings, as_of, fingerprint, run_key="good")
    second = register_version(client, settings, good_run.model_uri, good_run.run_id)

    mlflow_server["stop"]()  # the store goes away between registration and promotion
    with pytest.raises(MlflowException):
        champion_version(client, name)
    with pytest.raises(MlflowException):
        promote(client, settings, second, good_run.run_id, *trained.evaluation)

    mlflow_server["start"]()
    assert _aliases(client, name) == {CHAMPION: first, CHALLENGER: first}, "a failed promotion moved an alias"
    assert "promotion_decision" not in client.get_model_version(name, second).tags

    # The retried steps: the same run, the same version, then the decision against the real champion.
    assert log_training_run(trained, settings, as_of, fingerprint, run_key="good") == good_run
    assert register_version(client, settings, good_run.model_uri, good_run.run_id) == second
    decision = promote(client, settings, second, good_run.run_id, *trained.evaluation)
    assert decision.promoted and decision.champion_version == first
    assert len(client.search_model_versions(f"name='{name}'")) == 2
    assert _aliases(client, name) == {CHAMPION: second, CHALLENGER: second}
