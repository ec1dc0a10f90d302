"""Writers racing on one DynamoDB table, on DynamoDB Local (which isolates transactions as
DynamoDB does): each id stored once, every aggregate exact, whatever the interleaving."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.domain.aggregates import ACCOUNT, BANK_KEY, AggKey
from chalicelib.domain.rules import RuleConfig
from chalicelib.errors import ServiceUnavailableError
from chalicelib.usecases.ledger import CREATED, DUPLICATE, ingest
from chalicelib.usecases.reconcile import find_drift
from scripts.dynamodb_local import DynamoDBLocal
from tests.conftest import NOW
from tests.support import dynamodb_local as ddb_local
from tests.support.factories import raw_tx

pytestmark = pytest.mark.emulator
RULES = RuleConfig()
THREADS = 6
TRIES = 40  # a chunk answered 503 (too many concurrent writers) is sent again, as a client would


def test_threads_replaying_the_same_ids_over_few_accounts_store_each_once(
        dynamodb_local: DynamoDBLocal) -> None:
    batch = [raw_tx(f"r{i}", account=f"A{i % 3}", amount=f"{i}.01") for i in range(60)]
    statuses: list[str] = []
    refused: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)

    with ddb_local.dynamodb_local_store(shards=2) as first:
        def replay(offset: int) -> None:
            # its own client, as each Lambda instance or server thread has
            store = DynamoStore(first.table, shards=2, client=ddb_local.client(dynamodb_local))
            try:
                barrier.wait()
                for start in range(0, 60, 15):
                    chunk = batch[(start + offset * 15) % 60:][:15]
                    for _ in range(TRIES):
                        try:
                            results = ingest(store, "bank", chunk, NOW, RULES)
                            break
                        except ServiceUnavailableError:
                            with lock:
                                refused.append(offset)
                    else:
                        raise AssertionError(f"chunk at {start} refused {TRIES} times")
                    with lock:
                        statuses.extend(r.status for r in results)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=replay, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        assert failures == []
        assert statuses.count(CREATED) == 60
        assert statuses.count(DUPLICATE) == THREADS * 60 - 60
        bank = first.get_buckets("bank", [BANK_KEY])[BANK_KEY]
        assert bank.count == 60 and bank.accounts == 3
        assert bank.currencies["USD"].credit_total == sum(Decimal(f"{i}.01") for i in range(60))
        accounts = first.get_buckets("bank", [AggKey(ACCOUNT, f"A{a}") for a in range(3)])
        assert sum(b.count for b in accounts.values()) == 60
        assert find_drift(first, "bank") == []
