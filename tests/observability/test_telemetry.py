"""The per-transaction tally: published when the transaction commits, never otherwise."""

import pytest
from sqlalchemy import Engine, text

from app.core.db import Database
from app.core.telemetry import Tally, tally_of


class Sink:
    def __init__(self) -> None:
        self.published: list[Tally] = []

    def publish(self, tally: Tally) -> None:
        self.published.append(tally)


class BrokenSink:
    def publish(self, tally: Tally) -> None:
        raise RuntimeError("the metrics backend is gone")


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def database(engine: Engine, sink: Sink) -> Database:
    return Database(engine, sink=sink)


def test_a_committed_transaction_publishes_its_tally_once(database: Database, sink: Sink) -> None:
    with database.session(write=True) as session:
        tally = tally_of(session)
        assert tally is not None
        tally.readings += 2
        tally.adjustments["boost"] += 1
        assert tally_of(session) is tally  # one tally per transaction
        session.commit()
        assert sink.published == [tally]

        # The next transaction of the same session starts from nothing.
        assert tally_of(session) is not tally
        session.commit()

    assert len(sink.published) == 2
    assert sink.published[1] == Tally()


@pytest.mark.parametrize("ending", ["rollback", "close", "error"])
def test_a_transaction_that_does_not_commit_publishes_nothing(
    database: Database, sink: Sink, ending: str
) -> None:
    try:
        with database.session(write=True) as session:
            session.execute(text("SELECT 1"))
            tally = tally_of(session)
            assert tally is not None
            tally.readings += 1
            if ending == "rollback":
                session.rollback()
            elif ending == "error":
                raise RuntimeError("the request failed")
    except RuntimeError:
        pass

    assert sink.published == []


def test_reads_publish_too(database: Database, sink: Sink) -> None:
    """Reads commit as well (the request's transaction): a diversity they computed counts."""
    with database.session(write=False) as session:
        tally = tally_of(session)
        assert tally is not None
        tally.diversity = 0.5
        session.commit()

    assert [t.diversity for t in sink.published] == [0.5]


def test_without_a_sink_nothing_is_tallied(engine: Engine) -> None:
    with Database(engine).session(write=True) as session:
        assert tally_of(session) is None


def test_a_failing_sink_does_not_fail_the_committed_transaction(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with Database(engine, sink=BrokenSink()).session(write=True) as session:
        tally = tally_of(session)
        assert tally is not None
        tally.readings += 1
        session.commit()  # does not raise

    assert "publishing the committed transaction's metrics failed" in caplog.text
