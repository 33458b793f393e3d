"""The risk list on disk: Parquet, a spreadsheet-ready CSV, summary.json, and atomic replacement."""

from __future__ import annotations

import codecs
import io
import json
import math

import numpy as np
import pandas as pd
import pytest

from churnguard.core.config import ALL_TIERS as TIERS
from churnguard.models.reasons import template_for
from churnguard.models.scoring import CSV_DECIMALS, ScoredList, write_risk_list
from tests.models import scoring_fixtures
from tests.models.scoring_fixtures import ACCENTED_REGION, CAPACITY, ScoringWorld

scoring_world = scoring_fixtures.scoring_world

FILES = ["risk_list.csv", "risk_list.parquet", "summary.json"]
TEXT = [
    "risk_tier",
    "rfm_segment",
    "reason_1",
    "reason_2",
    "reason_3",
    "suggested_action",
    "group",
    "model_name",
]


class _Unprintable(int):
    """An id Parquet stores as a plain integer but the CSV writer cannot print: a write failing midway."""

    def __str__(self) -> str:
        raise RuntimeError("this id cannot be printed")

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        raise RuntimeError("this id cannot be printed")


def snapshot(folder) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_files_land_in_a_folder_named_after_as_of(scoring_world: ScoringWorld, tmp_path):
    as_of = scoring_world.dataset.as_of
    folder = write_risk_list(scoring_world.scored, tmp_path, as_of)
    assert folder == tmp_path / f"as_of={as_of:%Y-%m-%d}"
    assert sorted(p.name for p in folder.iterdir()) == FILES
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]
    back = pd.read_parquet(folder / "risk_list.parquet")
    risk = scoring_world.scored.risk_list
    assert list(back.columns) == list(risk.columns)
    pd.testing.assert_frame_equal(back.drop(columns="as_of"), risk.drop(columns="as_of"), check_dtype=False)
    assert pd.to_datetime(back["as_of"]).dt.date.eq(as_of.date()).all()


def test_summary_has_tiers_value_at_risk_model_data_and_dates(scoring_world: ScoringWorld, tmp_path):
    w = scoring_world
    risk = w.scored.risk_list
    folder = write_risk_list(w.scored, tmp_path, w.dataset.as_of)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    counts = risk["risk_tier"].value_counts()
    assert {t: summary["tiers"][t]["customers"] for t in TIERS} == {t: int(counts.get(t, 0)) for t in TIERS}
    ranked = (risk["risk_tier"] != "lapsed").sum()  # lapsed customers are kept out of the ranked tiers
    assert summary["tiers"]["critical"]["customers"] == math.floor(0.05 * ranked)
    for tier in TIERS:
        in_tier = risk.loc[risk["risk_tier"] == tier, "value_at_risk"].sum()
        assert summary["tiers"][tier]["value_at_risk"] == pytest.approx(in_tier, abs=0.006)
    assert summary["total_value_at_risk"] == pytest.approx(risk["value_at_risk"].sum(), abs=0.006)
    assert summary["customers"] == len(risk)
    assert summary["model_name"] == w.settings.registry.model_name
    assert summary["model_version"] == w.version
    assert summary["data_fingerprint"] == w.dataset.fingerprint
    assert summary["as_of"] == f"{w.dataset.as_of:%Y-%m-%d}"
    generated = pd.Timestamp(summary["generated_at"])
    assert generated.tzinfo is not None
    assert abs(pd.Timestamp.now(tz="UTC") - generated) < pd.Timedelta(hours=1)
    control = int((risk["group"] == "control").sum())
    assert 0 < control < CAPACITY / 4
    assert summary["groups"] == {
        "outreach": CAPACITY,
        "control": control,
        "cooldown": 0,
        "none": len(risk) - CAPACITY - control,
    }
    assert sum(summary["actions"].values()) == len(risk)


def test_csv_is_utf8_with_bom_and_reads_back_to_the_same_rows(scoring_world: ScoringWorld, tmp_path):
    risk = scoring_world.scored.risk_list.copy()
    # An accented attribute value worded by its real template, and a value too large for %g.
    risk.loc[0, "reason_3"] = template_for("attr_region")[0](lambda column: ACCENTED_REGION)
    risk.loc[1, "customer_value"] = 1234567.891
    folder = write_risk_list(
        ScoredList(risk, scoring_world.scored.summary), tmp_path, scoring_world.dataset.as_of
    )

    raw = (folder / "risk_list.csv").read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    assert f"Region: {ACCENTED_REGION}".encode() in raw
    assert b"1234567.89," in raw and b"e+" not in raw

    back = pd.read_csv(folder / "risk_list.csv", encoding="utf-8-sig")
    assert list(back.columns) == list(risk.columns)
    assert back["customer_id"].tolist() == risk["customer_id"].tolist()
    assert back["rank"].tolist() == risk["rank"].tolist()
    assert back["as_of"].tolist() == [str(d) for d in risk["as_of"]]
    assert back["model_version"].astype(str).tolist() == risk["model_version"].tolist()
    for column in TEXT:
        assert back[column].fillna("").tolist() == risk[column].fillna("").tolist(), column
    for column, decimals in CSV_DECIMALS.items():  # money to the cent, probabilities to 3 decimals
        half_unit = 0.5 * 10.0**-decimals + 1e-9
        np.testing.assert_allclose(back[column], risk[column], rtol=0, atol=half_unit, err_msg=column)
    # What a person reads: no "0.998241" or "99.9737" (before), full precision stays in Parquet.
    text = pd.read_csv(folder / "risk_list.csv", encoding="utf-8-sig", dtype=str)
    assert text["churn_probability"].str.fullmatch(r"[01]\.\d{1,3}|[01]").all()
    assert text["percentile"].str.fullmatch(r"\d{1,3}\.\d").all()
    assert pd.read_parquet(folder / "risk_list.parquet")["churn_probability"].equals(
        risk["churn_probability"]
    )


def test_a_rerun_replaces_the_folder_whole(scoring_world: ScoringWorld, tmp_path):
    as_of = scoring_world.dataset.as_of
    write_risk_list(scoring_world.scored, tmp_path, as_of)
    (tmp_path / f"as_of={as_of:%Y-%m-%d}" / "notes.txt").write_text("left by hand")
    shorter = scoring_world.scored.risk_list.iloc[:10]
    folder = write_risk_list(ScoredList(shorter, scoring_world.scored.summary), tmp_path, as_of)
    assert sorted(p.name for p in folder.iterdir()) == FILES
    assert len(pd.read_parquet(folder / "risk_list.parquet")) == 10
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]


@pytest.mark.parametrize("breaks", ["csv", "summary"])
def test_a_failed_write_leaves_the_previous_list_untouched(scoring_world: ScoringWorld, tmp_path, breaks):
    as_of = scoring_world.dataset.as_of
    folder = write_risk_list(scoring_world.scored, tmp_path, as_of)
    before = snapshot(folder)
    risk, summary = scoring_world.scored.risk_list.copy(), dict(scoring_world.scored.summary)
    if breaks == "csv":
        risk["customer_id"] = pd.Series([_Unprintable(v) for v in risk["customer_id"]], dtype=object)
        risk.to_parquet(io.BytesIO(), index=False)  # the Parquet file is written before the CSV fails
        failure = RuntimeError
    else:
        summary["model_version"] = {"not", "json"}  # both lists are written before the summary fails
        failure = TypeError
    with pytest.raises(failure):
        write_risk_list(ScoredList(risk, summary), tmp_path, as_of)
    assert snapshot(folder) == before
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no temporary folder left behind
