"""DynamoDB-specific behaviour beyond the contract: call budget, chunking, races, configuration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.adapters.dynamo import dynamo_codec as codec
from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.bootstrap import bootstrap, open_store, set_runtime
from chalicelib.config import Settings, load_settings
from chalicelib.domain.aggregates import (
    ACCOUNT,
    BANK_KEY,
    AggKey,
    Bucket,
    CurrencyTotals,
    deltas_for,
)
from chalicelib.domain.rules import RuleConfig
from chalicelib.domain.validation import validate_transaction
from chalicelib.errors import TotalTooLargeError
from chalicelib.ports.store import StoreRefused, WritePlan
from chalicelib.usecases.api_keys import create_key
from chalicelib.usecases.ledger import CONFLICT, CREATED, DUPLICATE, ingest
from chalicelib.usecases.reconcile import find_drift, repair
from tests.conftest import NOW
from tests.support.aws_calls import (
    TEST_TABLE,
    AwsCall,
    moto_dynamo_store,
    operations,
    record_aws_calls,
)
from tests.support.dynamodb_local import dynamodb_local_store
from tests.support.factories import raw_tx

pytestmark = [pytest.mark.emulator]

RULES = RuleConfig()
BANK = "demo"


@pytest.fixture(params=["moto", pytest.param("dynamodb-local", marks=pytest.mark.emulator)])
def dynamo(request: pytest.FixtureRequest) -> Iterator[DynamoStore]:
    """The adapter on moto and on DynamoDB Local: limits (100 actions, one per item) and
    cancellation reasons come from Amazon's own emulator too, not only from moto's reading."""
    if request.param == "moto":
        with moto_dynamo_store() as store:
            yield store
    else:
        request.getfixturevalue("dynamodb_local")
        with dynamodb_local_store() as store:
            yield store


# Hundreds of items written in transactions: DynamoDB Local only. moto deep-copies the table on
# each TransactWriteItems, so these cost seconds there and prove nothing more (the calls are
# counted by the same botocore hook on either).
LOCAL_ONLY = pytest.mark.parametrize("dynamo", ["dynamodb-local"], indirect=True)


def batch(prefix: str, n: int, accounts: int, hours: int = 1, big_every: int = 7
          ) -> list[dict[str, Any]]:
    """n valid raw transactions over `accounts` accounts and `hours` hours before NOW."""
    out = []
    for i in range(n):
        at = NOW - timedelta(hours=1 + i % hours, minutes=i % 60)
        amount = f"{10000 + i}.25" if i % big_every == 0 else f"{i + 1}.10"
        out.append(raw_tx(f"{prefix}{i}", account=f"AC{i % accounts}", amount=amount,
                          type="credit" if i % 3 else "debit",
                          timestamp=at.strftime("%Y-%m-%dT%H:%M:%SZ")))
    return out


class CountingApi:
    """The Chalice test client on a DynamoStore, with a real API key and a call recorder."""

    def __init__(self, store: DynamoStore, client: Client) -> None:
        self.store = store
        self.client = client
        self.calls: list[AwsCall] = record_aws_calls(store.client)
        key, _ = create_key(store, BANK)
        self.headers = {"x-api-key": key, "content-type": "application/json"}

    def measure(self, method: str, path: str, body: str = "") -> tuple[int, list[str]]:
        start = len(self.calls)
        if method == "POST":
            response = self.client.http.post(path, headers=self.headers, body=body)
        else:
            response = self.client.http.get(path, headers=self.headers)
        return response.status_code, operations(self.calls[start:])


@pytest.fixture
def counting(dynamo: DynamoStore) -> Iterator[CountingApi]:
    set_runtime(bootstrap(Settings(store="dynamodb", table_name=TEST_TABLE), dynamo))
    try:
        with Client(app) as client:
            yield CountingApi(dynamo, client)
    finally:
        set_runtime(None)


@pytest.mark.parametrize("hours", [1, 48])
@LOCAL_ONLY
def test_batch_of_100_over_50_accounts_costs_at_most_5_calls(counting: CountingApi,
                                                             hours: int) -> None:
    counting.measure("GET", "/analytics")  # the key lookup is cached from here on
    # the bank's rule set is read once per warm process and TTL (one Query), then cached
    status, ops = counting.measure("POST", "/transactions", json.dumps(batch("w", 1, 1, 1)[0]))
    assert status == 201 and ops[0] == "Query", ops
    status, ops = counting.measure("POST", "/transactions",
                                   json.dumps({"transactions": batch("t", 100, 50, hours)}))
    assert status == 200
    # plus, for a batch that flags, the bank's suppressions: they ride in the states' read
    # when it has room; at 48 hours it is full (100 keys), so they cost one GetItem. At 48
    # hours the chunks (two actions per account: its item and a history page it may flush;
    # two per alert and one for the alert counters; each chunk its own hours) take four
    # transactions where three held them before the alerts
    assert len(ops) <= (7 if hours == 48 else 5), ops
    assert ops.count("GetItem") == (1 if hours == 48 else 0), ops
    assert ops[:2] == ["BatchGetItem", "BatchGetItem"]
    assert "Scan" not in ops
    assert counting.store.get_buckets(BANK, [BANK_KEY])[BANK_KEY].count == 101


def seed_directly(store: DynamoStore, prefix: str, n: int) -> None:
    """n more stored transactions, written as items (moto's transactions slow down with table
    size), then the aggregates brought up to date by reconcile's repair."""
    txs = [validate_transaction(r, NOW) for r in batch(prefix, n, 50, hours=24)]
    txs = [t.with_flags(("large_amount",)) if t.amount >= 10000 else t for t in txs]
    requests: list[Any] = [{"PutRequest": {"Item": codec.to_wire(codec.tx_item(BANK, t))}}
                           for t in txs]
    for start in range(0, len(requests), 25):
        store.client.batch_write_item(RequestItems={store.table: requests[start:start + 25]})
    repair(store, BANK, find_drift(store, BANK))


def test_analytics_costs_the_same_4_calls_at_10_and_1000_transactions(
        counting: CountingApi) -> None:
    ingest(counting.store, BANK, batch("s", 10, 5), NOW, RULES)
    status, small = counting.measure("GET", "/analytics")  # a first request looks the key up
    assert status == 200
    _, warm_small = counting.measure("GET", "/analytics")
    seed_directly(counting.store, "m", 990)
    assert counting.store.get_buckets(BANK, [BANK_KEY])[BANK_KEY].count == 1000
    _, warm_large = counting.measure("GET", "/analytics")
    # the key, the bank's shards, the queue groups' totals (one Query however many), flagged,
    # and the alert counters (their own items: one BatchGetItem of the counter shards,
    # whatever the number of alerts)
    assert sorted(small) == sorted(["GetItem", "BatchGetItem", "Query", "Query", "BatchGetItem"])
    assert warm_small == warm_large == ["BatchGetItem", "Query", "Query", "BatchGetItem"]


@LOCAL_ONLY
def test_an_account_with_more_transactions_than_one_call_holds_is_split_safely(
        dynamo: DynamoStore) -> None:
    calls = record_aws_calls(dynamo.client)
    raws = batch("big", 230, accounts=1, hours=3) + batch("x", 20, accounts=10)
    results = ingest(dynamo, BANK, raws, NOW, RULES)
    assert [r.status for r in results] == [CREATED] * 250
    assert operations(calls).count("TransactWriteItems") >= 3
    assert find_drift(dynamo, BANK) == []  # every chunk wrote its aggregates with it
    account = dynamo.get_buckets(BANK, [AggKey(ACCOUNT, "AC0")])[AggKey(ACCOUNT, "AC0")]
    assert account.count == 230 + 2
    with dynamo.unit_of_work(BANK) as uow:
        state = uow.get_account_states(["AC0"])["AC0"]
    assert state.version >= 3  # one version per chunk the account was written in
    assert [r.status for r in ingest(dynamo, BANK, raws[:5], NOW, RULES)] == [DUPLICATE] * 5


@LOCAL_ONLY
def test_each_call_holds_at_most_100_actions_and_one_per_item(dynamo: DynamoStore) -> None:
    sent: list[dict[str, Any]] = []

    def keep(params: dict[str, Any], **_: Any) -> None:
        sent.append(params)

    dynamo.client.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems",
                                       keep)
    ingest(dynamo, BANK, batch("t", 200, accounts=90, hours=30), NOW, RULES)
    assert len(sent) >= 3
    for params in sent:
        items = params["TransactItems"]
        assert len(items) <= 100
        keys = [json.dumps(next(iter(a.values())).get("Key") or {
            k: v for k, v in next(iter(a.values()))["Item"].items() if k in ("pk", "sk")},
            sort_keys=True) for a in items]
        assert len(keys) == len(set(keys))


def test_a_maximum_raised_by_a_concurrent_writer_is_kept_without_a_conflict(
        dynamo: DynamoStore) -> None:
    dynamo.shards = 1
    ingest(dynamo, BANK, [raw_tx("first", amount="100.00")], NOW, RULES)
    calls = record_aws_calls(dynamo.client)
    mine = [validate_transaction(raw_tx("mine", amount="500.00", account="M1"), NOW)]
    with dynamo.unit_of_work(BANK) as uow:
        uow.get_transactions(["mine"])
        uow.will_write(mine)
        states = uow.get_account_states(["M1"])
        # another writer commits a bigger maximum between our read and our commit
        ingest(dynamo, BANK, [raw_tx("rival", amount="900.00", account="R1")], NOW, RULES)
        uow.commit(WritePlan(mine, deltas_for(mine, ["M1"]), states, rules=RuleConfig()))
    top = dynamo.get_buckets(BANK, [BANK_KEY])[BANK_KEY].currencies["USD"].max
    assert top is not None and top.id == "rival"
    assert dynamo.get_buckets(BANK, [BANK_KEY])[BANK_KEY].count == 3
    assert operations(calls).count("TransactWriteItems") == 3  # rival, ours cancelled, ours


@pytest.mark.parametrize(("rival_amount", "expected"), [("7.00", DUPLICATE), ("8.00", CONFLICT)])
def test_an_id_taken_between_read_and_commit_is_classified_and_the_rest_written(
        dynamo: DynamoStore, rival_amount: str, expected: str) -> None:
    rival = DynamoStore(dynamo.table, dynamo.shards, client=dynamo.client)
    fired: list[bool] = []

    def race(**_: Any) -> None:
        if not fired:
            fired.append(True)
            ingest(rival, BANK, [raw_tx("x1", amount=rival_amount)], NOW, RULES)

    dynamo.client.meta.events.register_first(
        "before-parameter-build.dynamodb.TransactWriteItems", race)
    results = ingest(dynamo, BANK, [raw_tx("x1", amount="7.00"), raw_tx("x2")], NOW, RULES)
    assert [r.status for r in results] == [expected, CREATED]
    assert dynamo.get_buckets(BANK, [BANK_KEY])[BANK_KEY].count == 2


def test_store_is_chosen_by_configuration_with_the_table_injected(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://localhost:8999")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    store = open_store(load_settings({"STORE": "dynamodb", "TABLE_NAME": "t1",
                                      "AGGREGATE_SHARDS": "4"}))
    assert isinstance(store, DynamoStore)
    assert (store.table, store.shards) == ("t1", 4)
    assert store.client is store.client  # created once, reused
    assert store.client.meta.endpoint_url == "http://localhost:8999"
    assert store.client.meta.region_name == "eu-west-1"
    assert store.client.meta.config.retries["mode"] == "standard"  # type: ignore[attr-defined]


def test_money_stays_exact_decimal_through_dynamodb(dynamo: DynamoStore) -> None:
    raws = [raw_tx(f"c{i}", amount="0.10") for i in range(3)] + [
        raw_tx("y1", amount="1000", currency="JPY")]
    ingest(dynamo, BANK, raws, NOW, RULES)
    bank = dynamo.get_buckets(BANK, [BANK_KEY])[BANK_KEY]
    assert str(bank.currencies["USD"].credit_total) == "0.30"
    assert str(bank.currencies["JPY"].credit_total) == "1000"
    c0, y1 = dynamo.get_transaction(BANK, "c0"), dynamo.get_transaction(BANK, "y1")
    assert c0 is not None and str(c0.amount) == "0.10"
    assert y1 is not None and str(y1.amount) == "1000"


def test_numbers_dynamodb_normalised_come_back_with_the_currency_digits() -> None:
    bucket = codec.flat_from({"ct_USD": Decimal("0.3"), "dt_JPY": Decimal("5E+2"),
                              "mx_USD": {"id": "a", "account": "A", "amount": Decimal("250.5"),
                                         "type": "credit", "timestamp": "2026-01-10T14:00:00Z"}})
    assert str(bucket.currencies["USD"].credit_total) == "0.30"
    assert str(bucket.currencies["JPY"].debit_total) == "500"
    top = bucket.currencies["USD"].max
    assert top is not None and str(top.amount) == "250.50"
    stored = codec.tx_item(BANK, validate_transaction(raw_tx("n1", amount="250.50"), NOW))
    stored["amount"] = Decimal("250.5")
    assert codec.tx_from(stored).to_json()["amount"] == "250.50"


def test_no_request_path_uses_an_operator_only_operation(counting: CountingApi) -> None:
    """BatchWriteItem belongs to reconcile (infra/operator-policy.json), so the Lambda's policy
    leaves it out, and Scan to it and the rules replay alone (its window has no index): every
    other route, driven here, proves it never needs them."""
    seen: list[str] = []
    for method, path, body in [
        ("POST", "/transactions", json.dumps({"transactions": batch("r", 30, 7, 3)})),
        ("POST", "/transactions", json.dumps(batch("one", 1, 1)[0])),
        ("GET", "/analytics", ""),
        ("GET", "/analytics?since=2026-01-09T00:00:00Z&until=2026-01-11T00:00:00Z", ""),
        ("GET", "/accounts/AC1", ""),
        ("GET", "/accounts/AC1/transactions?limit=2", ""),
        ("GET", "/transactions/r3", ""),
        ("GET", "/transactions/missing", ""),
        ("GET", "/health", ""),
    ]:
        status, ops = counting.measure(method, path, body)
        assert status < 500, (path, status)
        seen += ops
    assert {"GetItem", "BatchGetItem", "Query", "TransactWriteItems"} <= set(seen)
    assert not {"Scan", "BatchWriteItem"} & set(seen)


@pytest.fixture
def dynamodb_local_only(dynamodb_local: Any) -> Iterator[DynamoStore]:
    """DynamoDB Local alone: moto accepts what DynamoDB refuses (an inverted range, a 39-digit
    number), so only Amazon's emulator can show the refusal."""
    with dynamodb_local_store(shards=1) as store:
        yield store


def test_a_query_dynamodb_refuses_as_invalid_is_store_refused_never_an_outage(
        dynamodb_local_only: DynamoStore) -> None:
    with pytest.raises(StoreRefused, match="ValidationException"):
        dynamodb_local_only.get_hour_buckets(BANK, "2026-01-10T15", "2026-01-10T14")


def test_a_total_past_38_digits_is_refused_whole_with_a_clear_error(
        dynamodb_local_only: DynamoStore) -> None:
    near = Decimal("9" * 36 + ".99")  # 38 digits: what a DynamoDB number holds
    dynamodb_local_only.replace_buckets(BANK, {BANK_KEY: Bucket(count=1, currencies={
        "USD": CurrencyTotals(1, near, 0, Decimal(0))})}, [])
    with pytest.raises(TotalTooLargeError, match="38 significant digits"):
        ingest(dynamodb_local_only, BANK, [raw_tx("big", amount="0.02")], NOW, RULES)
    assert dynamodb_local_only.get_transaction(BANK, "big") is None
    found = dynamodb_local_only.get_buckets(BANK, [BANK_KEY])[BANK_KEY]
    assert found.currencies["USD"].credit_total == near and found.count == 1
