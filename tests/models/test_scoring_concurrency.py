"""Two scoring runs writing the risk list of one date at once: the folder always holds one run's files.

Real processes (spawned, so each imports churnguard afresh) write real scored lists through
``write_risk_list`` many times over, started together at a barrier, while a third process keeps
reading the folder.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pandas as pd

from churnguard.core import atomic
from churnguard.core.atomic import folder_lock
from churnguard.models.scoring import ScoredList, write_risk_list
from tests.models import scoring_fixtures
from tests.models.scoring_fixtures import ScoringWorld

scoring_world = scoring_fixtures.scoring_world

ROUNDS = 12
SPAWN = multiprocessing.get_context("spawn")


def write_many(scored: ScoredList, out_dir: Path, as_of: pd.Timestamp, start, rounds: int) -> None:
    """One run's writes, started with the other run's at ``start`` (a barrier)."""
    start.wait()
    for _ in range(rounds):
        write_risk_list(scored, out_dir, as_of)


def read_until(folder: Path, stop, found) -> None:
    """Read the folder's files, through one handle on the folder, until ``stop``; report what was seen.

    Puts ``(names, digests)`` for every complete read, and ``"missing"`` whenever the folder was
    not there after it first appeared.
    """
    appeared = False
    while not stop.is_set():
        try:
            handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            if appeared:
                found.put("missing")
            time.sleep(0.001)
            continue
        appeared = True
        try:
            names = sorted(os.listdir(handle))
            digests = []
            for name in names:
                with open(os.open(name, os.O_RDONLY, dir_fd=handle), "rb") as file:
                    digests.append(hashlib.sha256(file.read()).hexdigest())
            found.put((tuple(names), tuple(digests)))
        except FileNotFoundError:
            pass  # the folder read was swapped out and deleted meanwhile: read the new one
        finally:
            os.close(handle)


def digests(folder: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names = sorted(p.name for p in folder.iterdir())
    return tuple(names), tuple(hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in names)


def two_runs(world: ScoringWorld) -> tuple[ScoredList, ScoredList]:
    """Two real, different lists of one date: another outreach capacity, another run id."""
    other = world.settings.model_copy(
        update={"outreach": world.settings.outreach.model_copy(update={"capacity": 50})}
    )
    first, second = world.scored, world.score(other)
    assert not first.risk_list["group"].equals(second.risk_list["group"])
    return (
        ScoredList(first.risk_list, {**first.summary, "run": "first"}),
        ScoredList(second.risk_list, {**second.summary, "run": "second"}),
    )


def test_concurrent_writers_leave_one_runs_folder_whole(scoring_world: ScoringWorld, tmp_path: Path):
    as_of = scoring_world.dataset.as_of
    runs = two_runs(scoring_world)
    expected = [digests(write_risk_list(run, tmp_path / f"alone_{i}", as_of)) for i, run in enumerate(runs)]
    out_dir = tmp_path / "risk_lists"
    folder = out_dir / f"as_of={as_of:%Y-%m-%d}"

    start, stop, found = SPAWN.Barrier(2), SPAWN.Event(), SPAWN.Queue()
    reader = SPAWN.Process(target=read_until, args=(folder, stop, found))
    writers = [SPAWN.Process(target=write_many, args=(run, out_dir, as_of, start, ROUNDS)) for run in runs]
    reader.start()
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=300)
    stop.set()
    reads = []
    while reader.is_alive() or not found.empty():
        while not found.empty():
            reads.append(found.get())
        reader.join(timeout=0.1)

    assert [w.exitcode for w in writers] == [0, 0]
    assert digests(folder) in expected  # entirely one run's files
    assert sorted(p.name for p in out_dir.iterdir()) == [folder.name]  # no temporary folder, no lock
    assert reads, "the reader never saw the folder"
    assert "missing" not in reads  # swapped in one step: never absent once written
    names = expected[0][0]
    # A reader still holding the folder it opened before a swap sees that old folder's files go as it
    # is deleted: fewer files, each still one run's. A full listing must be exactly one run's files.
    assert all(set(read[0]) < set(names) for read in reads if read[0] != names)
    complete = [read for read in reads if read[0] == names]
    assert complete and all(read in expected for read in complete), "a reader saw a mix of two runs"


def test_a_second_writer_waits_for_the_first(scoring_world: ScoringWorld, tmp_path: Path):
    as_of = scoring_world.dataset.as_of
    first, second = two_runs(scoring_world)
    folder = write_risk_list(first, tmp_path, as_of)
    before = digests(folder)
    start = SPAWN.Barrier(2)
    with folder_lock(folder):  # the first run is still writing
        writer = SPAWN.Process(target=write_many, args=(second, tmp_path, as_of, start, 1))
        writer.start()
        start.wait()
        time.sleep(2)
        assert writer.is_alive()
        assert digests(folder) == before
    writer.join(timeout=120)
    assert writer.exitcode == 0
    assert digests(folder) == digests(write_risk_list(second, tmp_path / "alone", as_of))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone", folder.name]


def test_writers_take_turns_where_paths_cannot_be_exchanged(
    scoring_world: ScoringWorld, tmp_path: Path, monkeypatch
):
    """The rename-aside swap has a window between its two renames; slowed down, only the lock closes it."""
    as_of = scoring_world.dataset.as_of
    runs = two_runs(scoring_world)
    expected = [digests(write_risk_list(run, tmp_path / f"alone_{i}", as_of)) for i, run in enumerate(runs)]
    out_dir = tmp_path / "risk_lists"
    write_risk_list(runs[0], out_dir, as_of)
    real_replace = os.replace

    def slow_replace(source, target):
        time.sleep(0.2)
        real_replace(source, target)

    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    monkeypatch.setattr(atomic.os, "replace", slow_replace)
    start, failures = threading.Barrier(2), []

    def run(scored: ScoredList) -> None:
        start.wait()
        try:
            write_many(scored, out_dir, as_of, threading.Barrier(1), 3)
        except Exception as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(scored,)) for scored in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert failures == []
    folder = out_dir / f"as_of={as_of:%Y-%m-%d}"
    assert digests(folder) in expected
    assert sorted(p.name for p in out_dir.iterdir()) == [folder.name]
