"""What the search indexes (migration 13) cost each audit write on SQLite: CPU per event, not wall time.

    .venv/bin/python bench/audit_write_cost.py [--events 30000] [--batch 50]

Inserts sealed events (bench/audit_corpus.py) in transactions of ``--batch`` (a group commit's size)
into a SQLite file at schema version 12, then with migration 13's pieces added one at a time: the
nine indexes, the FTS5 text index (its triggers), both. The first 10,000 events warm the file;
the rest are timed in process CPU seconds (``synchronous=OFF``: the fsync is the same for every
variant and not what is measured). Stable on a busy machine, where events/s are not.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.audit_corpus import corpus  # noqa: E402
from exporter.store.migrations import MIGRATIONS  # noqa: E402
from exporter.store.records import AuditRecord  # noqa: E402

SEARCH = next(m for m in MIGRATIONS if m.version == 13)  # the audit search indexes
BEFORE_SEARCH = tuple(m for m in MIGRATIONS if m.version < SEARCH.version)  # a log from before them

WARM = 10_000
INSERT = (f"INSERT INTO audit_events ({', '.join(AuditRecord._fields)}) "  # noqa: S608
          f"VALUES ({', '.join('?' for _ in AuditRecord._fields)})")


def cpu_per_event(path: Path, batches: list[list[AuditRecord]], *, indexes: bool, text: bool, warm: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    for migration in BEFORE_SEARCH:
        for statement in migration.for_backend("sqlite"):
            conn.execute(statement)
    search = SEARCH
    if text:
        for statement in search.sqlite_only:
            conn.execute(statement)
    if indexes:
        for index in search.indexes:
            if index.sqlite:
                conn.execute(f"CREATE INDEX {index.name} ON {index.table} {index.columns}")
    timed, cpu = 0, 0.0
    for i, batch in enumerate(batches):
        started = time.process_time()
        conn.execute("BEGIN")
        conn.executemany(INSERT, batch)
        conn.execute("COMMIT")
        if i >= warm:
            timed += len(batch)
            cpu += time.process_time() - started
    conn.close()
    return cpu / timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    batches = list(corpus(args.events, end=time.time(), batch=args.batch))
    warm = WARM // args.batch
    print("| schema | CPU per event | vs version 12 |\n|---|---|---|")
    base = None
    for label, indexes, text in (("version 12", False, False), ("+ 9 indexes", True, False),
                                 ("+ text index", False, True), ("version 6 (both)", True, True)):
        with tempfile.TemporaryDirectory(prefix="audit-write-cost-") as tmp:
            cost = cpu_per_event(Path(tmp) / "cost.db", batches, indexes=indexes, text=text, warm=warm)
        base = base or cost
        print(f"| {label} | {cost * 1e6:.1f} µs | {cost / base:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
