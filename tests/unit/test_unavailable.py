"""Which database errors mean "not there right now" (503, retry) and which are bugs,
and which setting combinations ``genhook serve`` refuses."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from receiver.cli.serve import impossible
from receiver.settings import Settings
from storage.errors import is_unavailable


class DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def wrapped(sqlstate: str) -> DBAPIError:
    return DBAPIError("SELECT 1", None, DriverError(sqlstate))


def test_a_database_that_does_not_answer_is_unavailable() -> None:
    assert is_unavailable(OperationalError("x", None, Exception()))
    assert is_unavailable(InterfaceError("x", None, Exception()))
    assert is_unavailable(ConnectionRefusedError())
    assert is_unavailable(TimeoutError())
    assert is_unavailable(wrapped("57014"))  # statement_timeout cancelled it
    assert is_unavailable(wrapped("57P01"))  # the server is shutting down
    assert is_unavailable(wrapped("08006"))  # connection failure
    assert is_unavailable(wrapped("53300"))  # too many connections


def test_a_statement_that_is_wrong_is_not() -> None:
    assert not is_unavailable(IntegrityError("x", None, Exception()))
    assert not is_unavailable(wrapped("23505"))
    assert not is_unavailable(wrapped("42601"))
    assert not is_unavailable(ValueError())


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **values)  # type: ignore[arg-type]


def test_impossible_combinations_are_named(tmp_path: Path) -> None:
    postgres = "postgresql+asyncpg://u@h/db"
    assert impossible(settings(tmp_path)) is None
    assert "needs PostgreSQL" in (impossible(settings(tmp_path, workers=2)) or "")
    assert impossible(settings(tmp_path, workers=2, database_url=postgres)) is None
    refused = impossible(settings(tmp_path, workers=2, database_url=postgres, port=0))
    assert refused is not None and "fixed --port" in refused
