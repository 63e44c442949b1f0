"""Review decisions in SQLite (``DIR/review.sqlite``): an append-only log, saved at once.

* Every request is one transaction (``BEGIN IMMEDIATE`` … ``COMMIT``) in WAL mode with
  ``synchronous=FULL``: once a request has answered, its decision is on disk, so closing the
  browser, ``kill -9`` of the server or a crash loses nothing.
* Nothing is ever updated or deleted. A *batch* (one key press, one group card, one bulk action)
  appends its *events* (``accept``, ``reject``, ``edit`` per row); undo appends the batch's id to
  ``undos``. A row's state is folded from its events outside undone batches: the latest decision
  wins (last-write-wins, so two tabs lose no event, and the log keeps both), and the latest edit
  gives its text.
* Self-check answers go to ``rechecks``, never to ``events``: a repeat never overwrites the
  original decision.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

DB_NAME = "review.sqlite"
DECISIONS = ("accept", "reject", "edit")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, kind TEXT NOT NULL, label TEXT);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch INTEGER NOT NULL REFERENCES batches(id),
    row INTEGER NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('accept', 'reject', 'edit')),
    prompt TEXT, output TEXT);
CREATE INDEX IF NOT EXISTS events_row ON events(row);
CREATE TABLE IF NOT EXISTS undos (batch INTEGER PRIMARY KEY REFERENCES batches(id), ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rechecks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, row INTEGER NOT NULL, shown_ts REAL NOT NULL,
    original TEXT NOT NULL, answer TEXT, answer_ts REAL);
"""


@dataclass
class RowState:
    """What the person decided for one row."""

    decision: str  # accept | reject | edit (the latest of them)
    prompt: str | None = None  # the latest edit's text (None: not edited)
    output: str | None = None

    @property
    def edited(self) -> bool:
        return self.prompt is not None or self.output is not None

    @property
    def status(self) -> str:
        """accepted, rejected or edited (an edited row the person did not later reject)."""
        if self.decision == "reject":
            return "rejected"
        return "edited" if self.edited else "accepted"

    @property
    def keep(self) -> bool:
        return self.decision != "reject"


class ReviewStore:
    """The decision log of one review folder. Safe to use from several threads and processes:
    each call opens its own connection."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA synchronous=FULL")
            con.execute("PRAGMA busy_timeout=30000")
            yield con
        finally:
            con.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; IMMEDIATE takes the write lock up front, so two writers queue
        instead of failing when one upgrades a read lock."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    # --- meta -----------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._connect() as con:
            row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as con:
            con.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (key, value))

    # --- decisions ------------------------------------------------------------------------

    def record(self, events: list[tuple[int, str, str | None, str | None]], kind: str = "single",
               label: str | None = None) -> int:
        """Append one batch of ``(row, decision, prompt, output)`` events; return the batch id."""
        for _, decision, _, _ in events:
            if decision not in DECISIONS:
                raise ValueError(f"decision must be one of {DECISIONS}, not {decision!r}")
        with self._write() as con:
            cur = con.execute("INSERT INTO batches(ts, kind, label) VALUES (?, ?, ?)", (time.time(), kind, label))
            batch = int(cur.lastrowid)
            con.executemany("INSERT INTO events(batch, row, decision, prompt, output) VALUES (?, ?, ?, ?, ?)",
                            [(batch, int(r), d, p, o) for r, d, p, o in events])
        return batch

    def undo(self) -> dict | None:
        """Undo the latest batch not undone yet (a whole bulk action at once); None when there is none."""
        with self._write() as con:
            row = con.execute("SELECT id, kind, label FROM batches WHERE id NOT IN (SELECT batch FROM undos) "
                              "ORDER BY id DESC LIMIT 1").fetchone()
            if row is None:
                return None
            con.execute("INSERT INTO undos(batch, ts) VALUES (?, ?)", (row[0], time.time()))
            rows = [r for (r,) in con.execute("SELECT DISTINCT row FROM events WHERE batch = ? ORDER BY row", (row[0],))]
        return {"batch": row[0], "kind": row[1], "label": row[2], "rows": rows}

    def states(self) -> dict[int, RowState]:
        """Every decided row's state, folded from the log (undone batches left out)."""
        with self._connect() as con:
            cur = con.execute("SELECT row, decision, prompt, output FROM events "
                              "WHERE batch NOT IN (SELECT batch FROM undos) ORDER BY id")
            out: dict[int, RowState] = {}
            for r, decision, prompt, output in cur:
                st = out.get(r)
                if st is None:
                    st = out[r] = RowState(decision)
                st.decision = decision
                if decision == "edit":
                    st.prompt, st.output = prompt, output
        return out

    def batch_kinds(self) -> dict[int, str]:
        """row -> kind of the batch that gave its current decision (single, group, bulk)."""
        with self._connect() as con:
            cur = con.execute("SELECT e.row, b.kind FROM events e JOIN batches b ON b.id = e.batch "
                              "WHERE e.batch NOT IN (SELECT batch FROM undos) ORDER BY e.id")
            return {r: k for r, k in cur}

    def event_count(self) -> int:
        with self._connect() as con:
            return int(con.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def log(self) -> list[dict]:
        """The whole log, oldest first (for tests and audits of the review itself)."""
        with self._connect() as con:
            undone = {b for (b,) in con.execute("SELECT batch FROM undos")}
            cur = con.execute("SELECT e.id, e.batch, b.kind, e.row, e.decision, e.prompt, e.output FROM events e "
                              "JOIN batches b ON b.id = e.batch ORDER BY e.id")
            return [{"id": i, "batch": b, "kind": k, "row": r, "decision": d, "prompt": p, "output": o,
                     "undone": b in undone} for i, b, k, r, d, p, o in cur]

    # --- self-check -----------------------------------------------------------------------

    def add_recheck(self, row: int, original: str) -> int:
        with self._write() as con:
            return int(con.execute("INSERT INTO rechecks(row, shown_ts, original) VALUES (?, ?, ?)",
                                   (int(row), time.time(), original)).lastrowid)

    def answer_recheck(self, recheck_id: int, answer: str) -> bool:
        """Record the repeat answer (once); False when the id is unknown or already answered."""
        if answer not in DECISIONS:
            raise ValueError(f"answer must be one of {DECISIONS}, not {answer!r}")
        with self._write() as con:
            cur = con.execute("UPDATE rechecks SET answer = ?, answer_ts = ? WHERE id = ? AND answer IS NULL",
                              (answer, time.time(), int(recheck_id)))
            return cur.rowcount == 1

    def rechecked_rows(self) -> set[int]:
        with self._connect() as con:
            return {r for (r,) in con.execute("SELECT row FROM rechecks")}

    def self_agreement(self) -> dict:
        """How often a repeat answer agreed with the original one (keep vs drop)."""
        with self._connect() as con:
            pairs = con.execute("SELECT original, answer FROM rechecks WHERE answer IS NOT NULL").fetchall()
        agree = sum((o != "reject") == (a != "reject") for o, a in pairs)
        return {"rechecked": len(pairs), "agreed": agree,
                "rate": round(agree / len(pairs), 4) if pairs else None}
