"""The temporal split: newest cutoff tests, the one before validates, and no label leaks into training."""

from __future__ import annotations

import pandas as pd
import pytest

from churnguard.core.data.dataset import load_dataset
from churnguard.features.build import LABEL, feature_table, to_frame
from churnguard.features.source import source_from_dataset
from churnguard.models.train import temporal_split

DAY = pd.Timedelta(days=1)
START = pd.Timestamp("2025-01-01", tz="UTC")


def frame_of(n_cutoffs: int, every_days: int = 30, labels: tuple[int, ...] = (0, 1, 0, 1)) -> pd.DataFrame:
    """Four customers at each of ``n_cutoffs`` cutoffs, with the given labels at every cutoff."""
    rows = [
        {"customer_id": i, "cutoff": START + k * every_days * DAY, LABEL: y, "recency_days": 10.0 * i}
        for k in range(n_cutoffs)
        for i, y in enumerate(labels)
    ]
    frame = pd.DataFrame(rows)
    frame["cutoff"] = frame["cutoff"].astype("datetime64[us, UTC]")
    return frame


def cutoff(k: int) -> pd.Timestamp:
    return START + k * 30 * DAY


def test_newest_cutoff_tests_second_newest_validates_and_label_windows_are_purged():
    split = temporal_split(frame_of(6), horizon_days=90)

    assert split.test_cutoff == cutoff(5)
    assert split.valid_cutoff == cutoff(4)
    # Cutoffs 2 and 3 label with [c, c + 90 days), which reaches past the validation cutoff: left out.
    assert split.train_cutoffs == [cutoff(0), cutoff(1)]
    assert (len(split.train), len(split.valid), len(split.test)) == (8, 4, 4)


def test_without_a_horizon_every_older_cutoff_trains():
    split = temporal_split(frame_of(6))

    assert split.train_cutoffs == [cutoff(k) for k in range(4)]


def test_a_horizon_shorter_than_the_cutoff_spacing_leaves_nothing_out():
    split = temporal_split(frame_of(5), horizon_days=30)

    assert split.train_cutoffs == [cutoff(k) for k in range(3)]


def test_training_labels_of_the_real_training_set_end_by_the_validation_cutoff(sample, trained):
    horizon = sample.settings.churn.horizon_days * DAY
    split = temporal_split(sample.frame, sample.settings.churn.horizon_days)
    all_cutoffs = sorted(sample.frame["cutoff"].unique())

    assert split.test_cutoff == all_cutoffs[-1]
    assert split.valid_cutoff == all_cutoffs[-2]
    assert split.train["cutoff"].max() + horizon <= split.valid_cutoff
    assert split.valid_cutoff < split.test_cutoff
    # The same customers are in every split; that is fine because the split is by time.
    assert set(split.train["customer_id"]) & set(split.test["customer_id"])
    # And training used exactly this split.
    assert trained.split.train_cutoffs == split.train_cutoffs
    assert len(trained.split.train) == len(split.train)


def test_training_rows_can_be_rebuilt_from_data_known_at_the_validation_cutoff(sample, trained):
    """The strongest form of 'no test label in training': hide everything from the validation cutoff on,
    rebuild the training cutoffs' features and labels, and get the very same rows."""
    split = trained.split
    known = load_dataset(sample.data_dir, sample.settings.data, as_of=split.valid_cutoff)
    source = source_from_dataset(known, sample.settings.features)
    expr = feature_table(source, split.train_cutoffs, sample.settings, sample.spec, with_labels=True)
    rebuilt = to_frame(source, expr)

    key = ["cutoff", "customer_id"]
    expected = split.train.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(rebuilt.sort_values(key).reset_index(drop=True), expected)


def test_fewer_than_three_cutoffs_is_a_clear_error():
    with pytest.raises(ValueError, match=r"need at least 3 labelled cutoffs .* found 2"):
        temporal_split(frame_of(2))


def test_no_training_cutoff_left_after_purging_is_a_clear_error():
    with pytest.raises(ValueError, match=r"no training cutoff.*90-day label windows.*features.max_cutoffs"):
        temporal_split(frame_of(4), horizon_days=90)


@pytest.mark.parametrize(
    ("split_name", "position"),
    [("test", 5), ("valid", 4), ("train", 0)],
)
def test_a_split_with_one_class_is_a_clear_error(split_name, position):
    frame = frame_of(6)
    if split_name == "train":
        frame.loc[frame["cutoff"] <= cutoff(1), LABEL] = 0
    else:
        frame.loc[frame["cutoff"] == cutoff(position), LABEL] = 1
    with pytest.raises(ValueError, match=rf"the {split_name} cutoff\(s\) hold only one class"):
        temporal_split(frame, horizon_days=90)
