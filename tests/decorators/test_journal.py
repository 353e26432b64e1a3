"""The payload journal: appends, torn tails, commits, segments, limits and the one-process lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from modelward.decorators.journal import Journal, Position, segment_name
from modelward.errors import ConfigurationError, JournalFull


def test_records_are_read_from_the_committed_offset_across_segments(tmp_path: Path) -> None:
    journal = Journal(tmp_path, segment_bytes=1024)
    for index in range(300):
        journal.append(b'{"n":%d}' % index, block=False, timeout=0)
    assert len(list(tmp_path.glob("journal-*.jsonl"))) > 1
    lines, position = journal.read(journal.committed, 30)
    assert lines == [b'{"n":%d}' % i for i in range(30)]
    journal.commit(position)
    rest, end = journal.read(journal.committed, 1000)
    assert rest == [b'{"n":%d}' % i for i in range(30, 300)]
    journal.commit(end)
    assert journal.pending_bytes == 0
    assert len(list(tmp_path.glob("journal-*.jsonl"))) == 1  # shipped segments are removed
    journal.close()


def test_a_reopened_journal_resumes_at_the_commit_and_cuts_a_torn_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append(b'{"n":1}', block=False, timeout=0)
    journal.append(b'{"n":2}', block=False, timeout=0)
    journal.commit(journal.read(journal.committed, 1)[1])
    journal.close()
    with (tmp_path / segment_name(1)).open("ab") as handle:
        handle.write(b'{"n":3, "tor')  # the process died inside write(): never acknowledged
    reopened = Journal(tmp_path)
    assert reopened.committed == Position(1, len(b'{"n":1}\n'))
    reopened.append(b'{"n":4}', block=False, timeout=0)
    assert reopened.read(reopened.committed, 10)[0] == [b'{"n":2}', b'{"n":4}']
    reopened.close()


def test_a_full_journal_refuses_or_waits_for_room(tmp_path: Path) -> None:
    journal = Journal(tmp_path, max_bytes=1024)
    record = b"x" * 500
    journal.append(record, block=False, timeout=0)
    journal.append(record, block=False, timeout=0)
    with pytest.raises(JournalFull, match="is full"):
        journal.append(record, block=False, timeout=0)
    with pytest.raises(JournalFull):
        journal.append(record, block=True, timeout=0.1)
    _, position = journal.read(journal.committed, 1)
    threading.Timer(0.2, journal.commit, args=(position,)).start()
    journal.append(record, block=True, timeout=5)  # room made by the commit
    assert journal.read(journal.committed, 10)[0] == [record, record]
    journal.close()


def test_one_process_at_a_time(tmp_path: Path) -> None:
    import subprocess
    import sys

    journal = Journal(tmp_path)
    code = ("import sys; from pathlib import Path; from modelward.decorators.journal import Journal\n"
            "try:\n    Journal(Path(sys.argv[1]))\nexcept Exception as exc:\n    print(exc)\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                            check=False)
    assert "is used by another process" in result.stdout, result.stderr
    journal.close()


def test_an_unreadable_offset_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "offset.json").write_text("{", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"offset.json: unreadable"):
        Journal(tmp_path)


def test_concurrent_appenders_share_fsyncs_and_lose_nothing(tmp_path: Path) -> None:
    journal = Journal(tmp_path, fsync="always", segment_bytes=4096)

    def write(worker: int) -> None:
        for n in range(200):
            journal.append(b'{"w":%d,"n":%d}' % (worker, n), block=False, timeout=0)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines, _ = journal.read(journal.committed, 10_000)
    assert sorted(lines) == sorted(b'{"w":%d,"n":%d}' % (w, n) for w in range(4) for n in range(200))
    assert journal._synced == 800  # every record is covered by an fsync that began after it was written
    journal.close()


def test_with_fsync_always_records_are_written_by_the_sync_that_covers_them(tmp_path: Path) -> None:
    """Appends queue; one ``sync`` writes every queued record in order and fsyncs once (no write
    lands in a page an fsync is flushing); ``close`` writes what no caller waited for."""
    journal = Journal(tmp_path, fsync="always")
    numbers = [journal.append(b'{"n":%d}' % n, block=False, timeout=0, sync=False) for n in range(5)]
    assert journal.read(journal.committed, 100)[0] == []  # queued, not yet in the file
    assert journal.pending_bytes == 5 * len(b'{"n":0}\n')  # counted against the limit already
    journal.sync(numbers[2])
    assert journal.read(journal.committed, 100)[0] == [b'{"n":%d}' % n for n in range(5)]
    assert journal.group_fsyncs == 1
    journal.sync(numbers[4])  # covered by the first: no second fsync
    assert journal.group_fsyncs == 1
    _, position = journal.read(journal.committed, 100)
    journal.append(b'{"n":5}', block=False, timeout=0, sync=False)
    journal.commit(position)  # the shipped records leave; the queued one still counts
    assert journal.pending_bytes == len(b'{"n":5}\n')
    journal.close()
    reopened = Journal(tmp_path, fsync="always")
    assert reopened.read(reopened.committed, 100)[0] == [b'{"n":5}']
    reopened.close()


def test_with_fsync_interval_the_consumer_syncs_when_the_interval_has_passed(tmp_path: Path) -> None:
    """``append`` never waits for the disk; ``sync_due`` (the shipper's thread) fsyncs once the
    interval has passed, covering every record appended before it."""
    journal = Journal(tmp_path, fsync="interval", fsync_interval=0.2)
    for n in range(3):
        journal.append(b'{"n":%d}' % n, block=False, timeout=0)
    assert journal.read(journal.committed, 10)[0] == [b'{"n":0}', b'{"n":1}', b'{"n":2}']  # in the file
    journal.sync_due()
    assert journal._synced == 0  # not due yet
    time.sleep(0.25)
    journal.sync_due()
    assert journal._synced == 3
    journal.close()
