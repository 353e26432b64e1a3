"""The disk's sync latency, which bounds ``fsync: always`` at one connection: ``.venv/bin/python bench/fsync.py``.

Appends a 340-byte record (the insurance example's payload record) and syncs it, ``--records``
times, three ways in turn: ``os.write`` + ``os.fsync`` on a plain file, the same with
``os.fdatasync``, and ``Journal.append`` with ``fsync: always`` (one record per sync: what one
connection gets). It prints the median wall and CPU microseconds per record. The directory is a
temporary one on the disk of ``--directory`` (default: this checkout's ``bench/results``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from modelward.decorators.journal import Journal  # noqa: E402

RECORD = b"x" * 339


def plain_file(path: Path, sync: Callable[[int], None]) -> Callable[[], None]:
    """Append one record to ``path`` and sync it with ``sync``."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def one() -> None:
        os.write(descriptor, RECORD + b"\n")
        sync(descriptor)

    return one


def timed(sync_one: Callable[[], None], records: int) -> tuple[float, float]:
    """Median wall and mean CPU microseconds of ``sync_one``."""
    walls = []
    cpu = time.process_time()
    for _ in range(records):
        started = time.perf_counter()
        sync_one()
        walls.append(time.perf_counter() - started)
    return statistics.median(walls) * 1e6, (time.process_time() - cpu) / records * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000, help="records per way (default 2000)")
    parser.add_argument("--directory", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    args.directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.directory) as folder:
        journal = Journal(Path(folder) / "journal", fsync="always")

        def journaled() -> None:
            journal.append(RECORD, block=False, timeout=0)

        ways = {"os.write + os.fsync": plain_file(Path(folder) / "fsync", os.fsync),
                "os.write + os.fdatasync": plain_file(Path(folder) / "fdatasync", os.fdatasync),
                "Journal.append (fsync: always)": journaled}
        print(f"{args.records} records per way, in {args.directory} (a temporary directory there)")
        print(f"{'way':34s} {'wall us':>9s} {'CPU us':>8s}")
        for name, sync_one in ways.items():
            wall, cpu = timed(sync_one, args.records)
            print(f"{name:34s} {wall:9.0f} {cpu:8.0f}")
        journal.close()


if __name__ == "__main__":
    main()
