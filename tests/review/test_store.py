"""The decision store: append-only log, undo, last-write-wins, kill-safety, concurrent writers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading

from finesift.review.store import ReviewStore


def test_decisions_are_on_disk_for_a_new_store_object(tmp_path):
    db = tmp_path / "review.sqlite"
    s = ReviewStore(db)
    s.record([(1, "accept", None, None)])
    s.record([(2, "edit", None, "new answer")])
    again = ReviewStore(db).states()
    assert again[1].status == "accepted"
    assert again[2].status == "edited" and again[2].output == "new answer" and again[2].prompt is None
    mode = sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_decisions_survive_kill_9_of_the_writer(tmp_path):
    db = tmp_path / "review.sqlite"
    code = ("import os, sys; from finesift.review.store import ReviewStore; s = ReviewStore(sys.argv[1]); "
            "[s.record([(i, 'reject' if i % 2 else 'accept', None, None)]) for i in range(20)]; "
            "os.kill(os.getpid(), 9)")
    proc = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True)
    assert proc.returncode == -9
    states = ReviewStore(db).states()
    assert len(states) == 20
    assert all(states[i].keep == (i % 2 == 0) for i in range(20))


def test_undo_reverts_a_whole_batch_and_the_earlier_decision_comes_back(tmp_path):
    s = ReviewStore(tmp_path / "review.sqlite")
    s.record([(1, "accept", None, None)])
    s.record([(1, "reject", None, None), (2, "reject", None, None), (3, "reject", None, None)], kind="bulk",
             label="reject 3")
    undone = s.undo()
    assert undone["kind"] == "bulk" and undone["rows"] == [1, 2, 3]
    st = s.states()
    assert st[1].status == "accepted" and 2 not in st and 3 not in st
    log = s.log()
    assert len(log) == 4 and [e["undone"] for e in log] == [False, True, True, True]  # every event kept
    assert s.undo()["rows"] == [1]
    assert s.states() == {}
    assert s.undo() is None


def test_last_write_wins_and_an_edit_survives_a_later_accept(tmp_path):
    s = ReviewStore(tmp_path / "review.sqlite")
    s.record([(5, "edit", "p2", "o2")])
    s.record([(5, "accept", None, None)])
    assert s.states()[5].status == "edited" and s.states()[5].prompt == "p2"
    s.record([(5, "reject", None, None)])
    assert s.states()[5].status == "rejected"


def test_two_connections_writing_at_once_lose_nothing(tmp_path):
    db = tmp_path / "review.sqlite"
    stores = [ReviewStore(db), ReviewStore(db)]
    errors = []

    def work(k):
        try:
            for i in range(60):
                stores[k].record([(i, "accept" if k == 0 else "reject", None, None)])
        except Exception as exc:  # pragma: no cover - shown by the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    log = ReviewStore(db).log()
    assert len(log) == 120
    assert {(e["row"], e["decision"]) for e in log} == {(i, d) for i in range(60) for d in ("accept", "reject")}
    # per row the later event wins
    last = {}
    for e in log:
        last[e["row"]] = e["decision"]
    assert {r: st.decision for r, st in ReviewStore(db).states().items()} == last


def test_self_check_answers_never_overwrite_the_decision(tmp_path):
    s = ReviewStore(tmp_path / "review.sqlite")
    s.record([(7, "accept", None, None)])
    s.record([(8, "reject", None, None)])
    a = s.add_recheck(7, "accept")
    b = s.add_recheck(8, "reject")
    assert s.answer_recheck(a, "reject") and s.answer_recheck(b, "reject")
    assert not s.answer_recheck(a, "accept")  # answered once
    assert s.states()[7].status == "accepted"
    assert s.self_agreement() == {"rechecked": 2, "agreed": 1, "rate": 0.5}
