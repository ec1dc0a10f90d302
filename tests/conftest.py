"""Shared fixtures: a store per contract run, a runtime and the Chalice test client."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import moto.core.config as moto_config
import moto.kms.models as moto_kms
import pytest
from chalice.test import Client

from app import app
from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.bootstrap import Runtime, bootstrap, set_runtime
from chalicelib.ports.store import Store
from scripts.dynamodb_local import DynamoDBLocal
from tests.support import dynamodb_local as ddb_local
from tests.support import session_calls
from tests.support.settings import dev_settings
from tests.support.stores import EMULATED, STORES

TEST_KEY = "test-demo-key"
NOW = datetime(2026, 1, 10, 18, 0, tzinfo=UTC)
# What makes a module long, longest first: a test marked with one of these costs seconds.
HEAVY_FIRST = ("slow", "browser", "e2e", "emulator")
TEMP_ROOT_ENV = "PYTEST_DEBUG_TEMPROOT"  # where pytest makes its pytest-of-<user> directory
RAM_DISK = "/dev/shm"
RAM_DISK_ROOM = 2 * 1024**3  # a run writes far less; a small /dev/shm (a container's 64 MB) is left
JVM_OPTIONS_ENV = "JDK_JAVA_OPTIONS"  # read by the `java` launcher (Java 9 and later)
JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def pytest_configure(config: pytest.Config) -> None:
    """Set up once, in the process that starts the others (xdist workers, servers, child
    processes inherit the environment): temporary directories on a RAM disk, and the JVM
    options of DynamoDB Local. In every test process: moto made cheaper (below)."""
    one_private_key_per_moto_kms_key_spec()
    # moto replaces boto3's default session at every mock_aws() start, so each client the code
    # makes itself (boto3.client, as in Lambda) came from a new session that parsed botocore's
    # endpoints and models again (~50 ms a client): keep one, as a Lambda container does.
    # moto's hooks are in every session made after moto is imported (conftest imports it).
    moto_config.default_user_config.setdefault("core", {})["reset_boto3_session"] = False
    if hasattr(config, "workerinput"):
        return
    # DynamoDB Local's JVM, as the tests use it (hundreds of short tables, minutes of life):
    # C1 only (no C2, whose compiler threads were a good part of the emulator's CPU on two
    # cores) and the serial collector. The DynamoDB Local tests of tests/contract and
    # tests/integration/adapters: 23 s -> 13 s of CPU; tests/e2e/test_dynamodb_endpoint.py
    # 35 s -> 23 s. bench/ starts its own, unchanged.
    os.environ.setdefault(JVM_OPTIONS_ENV, JVM_OPTIONS)
    if not config.option.basetemp and TEMP_ROOT_ENV not in os.environ:
        use_ram_disk()


def one_private_key_per_moto_kms_key_spec() -> None:
    """moto makes DynamoDB's default KMS key for every encrypted table it creates (each test
    table: SSE on, as the template has it), and an RSA-2048 private key for it whatever its
    spec: 46 ms of CPU each, 162 times in the contract and integration tests (7.5 s). No test
    uses a KMS key's private key: every moto KMS key of a spec shares one, made once."""
    made: dict[str, Any] = {}
    real = moto_kms.generate_private_key  # type: ignore[attr-defined]  # (imported there)

    def shared(key_spec: str) -> Any:
        if key_spec not in made:
            made[key_spec] = real(key_spec)
        return made[key_spec]

    moto_kms.generate_private_key = shared  # type: ignore[attr-defined]


def use_ram_disk() -> None:
    """Temporary directories (`tmp_path`: the tests' SQLite files, queues, logs) on a RAM file
    system when the machine has one with room: SQLite's FULL sync makes every commit an fsync,
    0.5-2 ms on this disk against 0.02 ms there, and a test commits dozens of times. The files,
    WAL and locks behave the same (no test can see durability across a power loss). Not when
    a base directory is given (`--basetemp`, PYTEST_DEBUG_TEMPROOT)."""
    try:
        room = shutil.disk_usage(RAM_DISK).free
    except OSError:
        return
    if room >= RAM_DISK_ROOM and os.access(RAM_DISK, os.W_OK):
        os.environ[TEMP_ROOT_ENV] = RAM_DISK


@pytest.hookimpl(tryfirst=True)  # before -k and -m deselect: session_calls must see both
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, the heaviest modules first (longest processing time first): the
    scheduler hands whole modules (`--dist loadfile`, `--no-loadscope-reorder`) to whichever
    worker is free, in this order, so a long module collected last cannot run alone at the end
    while the other workers idle. A plain run keeps the usual order (fast failures first).
    In both, the policy test last: it reads the AWS calls the other modules made
    (tests.support.session_calls)."""
    session_calls.note_collection(config, items)
    if hasattr(config, "workerinput"):
        weight: dict[str, int] = {}
        for item in items:
            marks = [HEAVY_FIRST.index(m.name) for m in item.iter_markers()
                     if m.name in HEAVY_FIRST]
            module = item.nodeid.split("::")[0]
            weight[module] = min([weight.get(module, len(HEAVY_FIRST)), *marks])
        items.sort(key=lambda item: weight[item.nodeid.split("::")[0]])  # stable
    session_calls.run_last(items)


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        session_calls.note_deselected(items[0].config, items)


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Generator[None, object, object]:
    """The AWS-backed tests log the calls they make (from setup to teardown), and say when they
    are done, for the policy test (tests.support.session_calls)."""
    extra = session_calls.environ_for(item)
    os.environ.update(extra)
    try:
        result = yield
    finally:
        for name in extra:
            os.environ.pop(name, None)
    if extra:
        session_calls.record_done(item.config, item.nodeid, not item.stash.get(FAILED, False))
    return result


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
