"""The lock writers of one folder take: held across processes, freed when its holder dies, no litter."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from churnguard.core.atomic import LockTimeout, folder_lock, lock_path, replace_folder

SPAWN = multiprocessing.get_context("spawn")


def hold(target: Path, held, release) -> None:
    """Take the lock of ``target`` in another process and keep it until ``release``."""
    with folder_lock(target):
        held.set()
        release.wait(60)


def holder(target: Path):
    held, release = SPAWN.Event(), SPAWN.Event()
    process = SPAWN.Process(target=hold, args=(target, held, release))
    process.start()
    assert held.wait(60)
    return process, release


def test_the_lock_file_goes_when_the_lock_is_released(tmp_path: Path) -> None:
    target = tmp_path / "as_of=2026-10-31"
    with folder_lock(target):
        assert lock_path(target).exists()
        replace_folder(target, lambda tmp: (tmp / "a.txt").write_text("a"))
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    with folder_lock(target):  # and it can be taken again
        pass


def test_a_held_lock_makes_others_wait_then_give_up_naming_the_holder(tmp_path: Path) -> None:
    target = tmp_path / "as_of=2026-10-31"
    process, release = holder(target)
    try:
        with (
            pytest.raises(LockTimeout, match=rf"locked by another process \(pid {process.pid}\)"),
            folder_lock(target, timeout=0.5),
        ):
            pass
    finally:
        release.set()
        process.join(60)
    with folder_lock(target, timeout=5):
        pass


def test_a_holder_that_dies_frees_the_lock(tmp_path: Path) -> None:
    target = tmp_path / "as_of=2026-10-31"
    process, _ = holder(target)
    process.kill()
    process.join(60)
    assert lock_path(target).exists()  # a killed holder cannot clean up, but the kernel dropped its lock
    with folder_lock(target, timeout=5):
        pass
    assert not lock_path(target).exists()
