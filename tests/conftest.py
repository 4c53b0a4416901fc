from __future__ import annotations

from datetime import UTC, datetime

import pytest

from borderflow.clock import FixedClock
from borderflow.network.loader import load_network
from borderflow.network.schemas import Network
from tests.fixtures.api import _cheap_password_hashing, app, cast, client  # noqa: F401
from tests.fixtures.cli import cli_home  # noqa: F401
from tests.fixtures.db import SKIPPED, database_url, engine, session  # noqa: F401


@pytest.fixture(scope="session")
def lang_son() -> Network:
    return load_network("lang-son")


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SKIPPED:
        terminalreporter.write_sep("!", "NOTICE: the PostgreSQL pass was skipped", yellow=True)
        terminalreporter.write_line(SKIPPED[0])
