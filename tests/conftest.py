"""Shared fixtures: a store per contract run, a runtime and the Chalice test client."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.bootstrap import Runtime, bootstrap, set_runtime
from chalicelib.ports.store import Store
from scripts.dynamodb_local import DynamoDBLocal
from tests.support import dynamodb_local as ddb_local
from tests.support.settings import dev_settings
from tests.support.stores import EMULATED, STORES

TEST_KEY = "test-demo-key"
NOW = datetime(2026, 1, 10, 18, 0, tzinfo=UTC)
# What makes a module long, longest first: a test marked with one of these costs seconds.
HEAVY_FIRST = ("slow", "browser", "e2e", "emulator")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, the heaviest modules first (longest processing time first): the
    scheduler hands whole modules (`--dist loadfile`, `--no-loadscope-reorder`) to whichever
    worker is free, in this order, so a long module collected last cannot run alone at the end
    while the other workers idle. A plain run keeps the usual order (fast failures first)."""
    if not hasattr(config, "workerinput"):
        return
    weight: dict[str, int] = {}
    for item in items:
        marks = [HEAVY_FIRST.index(m.name) for m in item.iter_markers() if m.name in HEAVY_FIRST]
        module = item.nodeid.split("::")[0]
        weight[module] = min([weight.get(module, len(HEAVY_FIRST)), *marks])
    items.sort(key=lambda item: weight[item.nodeid.split("::")[0]])  # stable: order kept within


@pytest.fixture(autouse=True)
def _markers_tell_the_truth(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
                            ) -> None:
    """A test marked neither e2e nor emulator (which may start DynamoDB Local) may start no
    process and open no listening socket, so that `make check` really needs only Python."""
    if any(request.node.get_closest_marker(m) is not None for m in ("e2e", "emulator")):
        return

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"{request.node.nodeid} starts a process or a server: "
                             "mark it @pytest.mark.e2e (or emulator)")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setattr(socket.socket, "listen", refuse)


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    """Amazon's DynamoDB Local, one per test process (per xdist worker), in memory, on a free
    port; `.endpoint`, `.env` (AWS_ENDPOINT_URL_DYNAMODB and credentials). Tests share it, so
    each uses its own table (tests.support.dynamodb_local.table_name). Mark such tests
    `emulator`."""
    yield ddb_local.emulator()
    ddb_local.stop()


# Every store but SQLite runs on an AWS stand-in (moto in process, or DynamoDB Local): emulator,
# so `make check` leaves them to `make test`.
@pytest.fixture(params=[pytest.param(name, marks=pytest.mark.emulator) if name != "sqlite"
                        else name for name in sorted(STORES)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each store in turn: the contract suite runs once per adapter."""
    if request.param in EMULATED:
        request.getfixturevalue("dynamodb_local")  # started here, stopped at the session's end
    with STORES[request.param](tmp_path) as made:
        yield made


@pytest.fixture
def sqlite(tmp_path: Path) -> SqliteStore:
    return SqliteStore(str(tmp_path / "ledger.db"))


@pytest.fixture
def runtime(sqlite: SqliteStore) -> Iterator[Runtime]:
    rt = bootstrap(dev_settings(sqlite_path=sqlite.path, demo_api_key=TEST_KEY), sqlite)
    set_runtime(rt)
    yield rt
    set_runtime(None)


class Api:
    """The Chalice test client with the demo key and JSON headers filled in."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.headers = {"x-api-key": TEST_KEY, "content-type": "application/json"}

    def post(self, body: str | bytes, **headers: str) -> Any:
        return self.client.http.post("/transactions", body=body,
                                     headers={**self.headers, **headers})

    def get(self, path: str, **headers: str) -> Any:
        return self.client.http.get(path, headers={**self.headers, **headers})


@pytest.fixture
def api(runtime: Runtime) -> Iterator[Api]:
    with Client(app) as client:
        yield Api(client)
