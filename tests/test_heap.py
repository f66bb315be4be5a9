"""The server's collector settings (commcredits/heap.py): set once, after start-up."""

import gc

from starlette.testclient import TestClient

from commcredits import heap


def test_the_lifespan_settles_the_heap_once(monkeypatch):
    from commcredits.app import create_app

    old = gc.get_threshold()
    monkeypatch.setattr(heap, "_settled", False)
    calls = []
    real_freeze = gc.freeze
    monkeypatch.setattr(gc, "freeze", lambda: (calls.append(1), real_freeze())[1])
    try:
        with TestClient(create_app()) as client:
            assert client.get("/healthz").status_code == 200
            assert gc.get_threshold() == (heap.THRESHOLD, old[1], old[2])
            assert gc.get_freeze_count() > 0 and calls == [1]
        heap.settle()  # again: nothing more is frozen or changed
        assert calls == [1] and gc.get_threshold()[0] == heap.THRESHOLD
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()  # the rest of the test run collects as it did
