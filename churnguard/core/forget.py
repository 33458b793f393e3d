"""Remove customers from every file churnguard keeps: risk lists, reports, staged data, named files.

A table is any ``.parquet`` or ``.csv`` file with a ``customer_id`` column; ids match as the file
stores them (an integer column matches ids written as integers, a text column the exact text).

- Output folders (``risk_lists/as_of=…/``, ``reports/as_of=…/``): each table is rewritten without
  the customers' rows and the dated folder swapped in whole, under the lock writers of that date
  take, so a concurrent ``churn score`` never interleaves with it. Other files (``summary.json``:
  counts and sums) stay as they are. An HTML page beside a table that lost rows showed those rows,
  so it is removed. Leftovers of an interrupted write (hidden folders) holding the ids are deleted.
- Staged copies under ``paths.work`` (a run's validated data and training sets): a folder holding
  any of the ids is deleted whole. It is a cache the next run rebuilds from the source data, and a
  copy with rows edited out would no longer be the data its fingerprint names.
- Named files (e.g. a feature table from ``churn features --out``): rewritten atomically.

Nothing here reads or returns the forgotten customers' other data: only paths and row counts.
"""

from __future__ import annotations

import codecs
import csv
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from churnguard.core.atomic import folder_lock, replace_folder, write_file_atomically
from churnguard.core.errors import BadInputError

ID = "customer_id"
TABLES = (".parquet", ".csv")
PAGES = (".html", ".htm")
_INTEGER = re.compile(r"[+-]?\d+")
_CANONICAL_INTEGER = re.compile(r"-?(?:0|[1-9]\d*)")  # how pandas writes an integer column


@dataclass(frozen=True)
class Touched:
    """One file or folder changed: ``rewritten`` (rows removed), ``deleted`` (a staged copy or a
    leftover holding the ids) or ``removed`` (a page that showed removed rows)."""

    path: Path
    action: str
    rows: int


@dataclass
class ForgetReport:
    """What :func:`forget_customers` did."""

    ids: int
    checked: int = 0
    touched: list[Touched] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.touched)


class CustomerIds:
    """The ids to forget, as text and (those written as integers) as integers."""

    def __init__(self, ids: Iterable[object]) -> None:
        self.text = frozenset(str(i).strip() for i in ids) - {""}
        if not self.text:
            raise BadInputError(
                "no customer ids given: pass --customer-id ID (repeatable) or --ids-file FILE"
            )
        self.ints = frozenset(int(i) for i in self.text if _INTEGER.fullmatch(i) and abs(int(i)) < 2**63)

    def __len__(self) -> int:
        return len(self.text)


def read_ids_file(path: Path) -> list[str]:
    """Customer ids from a UTF-8 text file, one a line; blank lines are skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"cannot read the ids file {path}: {exc}") from None
    return [line.strip() for line in lines if line.strip()]


def forget_customers(
    ids: Iterable[object], outputs: Sequence[Path], work: Path | None = None, files: Sequence[Path] = ()
) -> ForgetReport:
    """Remove every row of the given customers from churnguard's files.

    Args:
        ids: customer ids (integers or text); blanks are ignored.
        outputs: folders of dated output folders, e.g. the risk lists and the reports folders.
        work: the folder of staged copies (``paths.work``); each holding an id is deleted.
        files: more tables to clean, e.g. a feature table written by ``churn features``.

    Returns:
        Files checked and each file or folder changed with its rows removed; a second run with the
        same ids changes nothing.

    Raises:
        BadInputError: no ids, a named file missing or not a table, a table that cannot be read.
    """
    wanted = CustomerIds(ids)
    report = ForgetReport(ids=len(wanted))
    for path in files:
        if not Path(path).is_file() or Path(path).suffix not in TABLES:
            raise BadInputError(f"{path}: not a Parquet or CSV file")
    for root in outputs:
        for entry in _entries(root):
            if entry.name.startswith("."):
                _delete_leftover(entry, wanted, report)
            elif entry.is_dir():
                _clean_folder(entry, wanted, report)
            elif entry.suffix in TABLES:
                _clean_file(entry, wanted, report)
    for entry in _entries(work) if work else []:
        if entry.is_dir():
            rows = _count_tree(entry, wanted, report)
            if rows:
                shutil.rmtree(entry)
                report.touched.append(Touched(entry, "deleted", rows))
        elif entry.suffix in TABLES:
            _clean_file(entry, wanted, report)
    for path in files:
        _clean_file(Path(path), wanted, report)
    return report


def _entries(root: Path) -> list[Path]:
    return sorted(Path(root).iterdir()) if Path(root).is_dir() else []


def _clean_folder(folder: Path, ids: CustomerIds, report: ForgetReport) -> None:
    """Rewrite a dated output folder without the ids' rows, swapped in whole under the writers' lock."""
    with folder_lock(folder):
        if not folder.is_dir():
            return
        entries = sorted(folder.iterdir())
        hits = {path: _count(path, ids, report) for path in entries if path.suffix in TABLES}
        hits = {path: rows for path, rows in hits.items() if rows}
        if not hits:
            return
        pages = [path for path in entries if path.suffix in PAGES]

        def fill(tmp: Path) -> None:
            for path in entries:
                if path in hits:
                    _write_without(path, tmp / path.name, ids)
                elif path.is_dir():
                    shutil.copytree(path, tmp / path.name)
                elif path not in pages:
                    shutil.copy2(path, tmp / path.name)

        replace_folder(folder, fill)
    report.touched += [Touched(path, "rewritten", rows) for path, rows in hits.items()]
    report.touched += [Touched(path, "removed", 0) for path in pages]


def _delete_leftover(entry: Path, ids: CustomerIds, report: ForgetReport) -> None:
    """A hidden folder beside the dated ones is what an interrupted write left: delete it if it holds ids."""
    if not entry.is_dir():
        return
    target = entry.with_name(entry.name[1:].split(".", 1)[0])
    with folder_lock(target):  # a write in progress holds this lock: its folder is not a leftover
        if entry.is_dir() and (rows := _count_tree(entry, ids, report)):
            shutil.rmtree(entry)
            report.touched.append(Touched(entry, "deleted", rows))


def _clean_file(path: Path, ids: CustomerIds, report: ForgetReport) -> None:
    with folder_lock(path):
        rows = _count(path, ids, report)
        if rows:
            write_file_atomically(path, lambda tmp: _write_without(path, tmp, ids))
            report.touched.append(Touched(path, "rewritten", rows))


def _count_tree(folder: Path, ids: CustomerIds, report: ForgetReport) -> int:
    return sum(_count(path, ids, report) for path in sorted(folder.rglob("*")) if path.suffix in TABLES)


def _count(path: Path, ids: CustomerIds, report: ForgetReport) -> int:
    """Rows of ``path`` holding one of the ids (0 for a file without a ``customer_id`` column)."""
    if not path.is_file():
        return 0
    report.checked += 1
    try:
        if path.suffix == ".parquet":
            if ID not in pq.read_schema(path).names:
                return 0
            return int(pc.sum(_parquet_hits(pq.read_table(path, columns=[ID])[ID], ids)).as_py() or 0)
        return sum(_csv_hits(path, ids))
    except (OSError, UnicodeDecodeError, pa.ArrowException, csv.Error) as exc:
        raise BadInputError(f"cannot read {path}: {exc}") from None


def _write_without(path: Path, out: Path, ids: CustomerIds) -> None:
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        pq.write_table(table.filter(pc.invert(_parquet_hits(table[ID], ids))), out)
        return
    raw = path.read_bytes()
    bom = codecs.BOM_UTF8 if raw.startswith(codecs.BOM_UTF8) else b""
    first = raw.split(b"\n", 1)[0]
    newline = "\r\n" if first.endswith(b"\r") else "\n"
    with path.open(encoding="utf-8-sig", newline="") as source:
        rows = csv.reader(source)
        header = next(rows)
        with out.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as sink:
            writer = csv.writer(sink, lineterminator=newline)
            writer.writerow(header)
            for row, hit in zip(rows, _csv_hits(path, ids), strict=True):
                if not hit:
                    writer.writerow(row)


def _parquet_hits(column: pa.ChunkedArray, ids: CustomerIds) -> pa.ChunkedArray:
    if pa.types.is_integer(column.type):
        values, column = pa.array(sorted(ids.ints), pa.int64()), pc.cast(column, pa.int64())
    else:
        values, column = pa.array(sorted(ids.text), pa.string()), pc.cast(column, pa.string())
    return pc.fill_null(pc.is_in(column, value_set=values), False)


def _csv_hits(path: Path, ids: CustomerIds) -> list[bool]:
    """Per data row, whether its id is one of ``ids``: integers when the column holds only integers."""
    with path.open(encoding="utf-8-sig", newline="") as source:
        rows = csv.reader(source)
        header = next(rows, [])
        if ID not in header:
            return []
        at = header.index(ID)
        values = [row[at] if len(row) > at else "" for row in rows]
    if values and all(_CANONICAL_INTEGER.fullmatch(v) for v in values):
        return [int(v) in ids.ints for v in values]
    return [v in ids.text for v in values]
