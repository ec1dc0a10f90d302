"""bench.meter bills real calls on DynamoDB Local by AWS's rules, not by ConsumedCapacity."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench.cost import indexes
from bench.meter import Meter
from scripts.dynamodb_local import DynamoDBLocal
from scripts.provision import create_table_request
from tests.support.dynamodb_local import client, table_name

pytestmark = pytest.mark.emulator


@pytest.fixture
def metered(dynamodb_local: DynamoDBLocal) -> Iterator[tuple[Any, Meter, str]]:
    made, shadow = client(dynamodb_local), client(dynamodb_local)
    table = table_name()
    made.create_table(**create_table_request(table))
    meter = Meter(shadow, table, indexes())
    meter.attach(made)
    yield made, meter, table
    shadow.delete_table(TableName=table)


def tx(n: int, pad: int = 0) -> dict[str, Any]:
    return {"pk": {"S": f"TX#b#{n}"}, "sk": {"S": "TX"}, "g2pk": {"S": "F#b"},
            "g2sk": {"S": f"t#{n}"}, "pad": {"S": "x" * pad}}


def test_a_transactional_insert_costs_two_and_its_index_one(metered: tuple[Any, Meter, str]
                                                           ) -> None:
    ddb, meter, table = metered
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": tx(i)}}
                                            for i in range(3)])
    assert meter.wru == {"records": 6, "index flagged": 3}


def test_a_failed_condition_still_costs_on_the_stored_item(metered: tuple[Any, Meter, str]
                                                          ) -> None:
    ddb, meter, table = metered
    ddb.put_item(TableName=table, Item=tx(1, pad=1500))
    meter.reset()
    with pytest.raises(ClientError):
        ddb.put_item(TableName=table, Item=tx(1), ConditionExpression="attribute_not_exists(pk)")
    assert meter.wru == {"records": 2}  # the stored 1.5 KB item, no index write


def test_an_update_is_billed_on_the_whole_item_after_it(metered: tuple[Any, Meter, str]
                                                       ) -> None:
    ddb, meter, table = metered
    ddb.put_item(TableName=table, Item={"pk": {"S": "AC#b#1"}, "sk": {"S": "AC"}})
    meter.reset()
    ddb.update_item(TableName=table, Key={"pk": {"S": "AC#b#1"}, "sk": {"S": "AC"}},
                    UpdateExpression="SET h = :h", ExpressionAttributeValues={
                        ":h": {"S": "y" * 2100}})
    assert meter.wru == {"accounts": 3}


def test_a_missing_key_read_still_costs_one(metered: tuple[Any, Meter, str]) -> None:
    ddb, meter, table = metered
    ddb.put_item(TableName=table, Item=tx(1, pad=5000))
    meter.reset()
    ddb.batch_get_item(RequestItems={table: {"ConsistentRead": True, "Keys": [
        {"pk": {"S": "TX#b#1"}, "sk": {"S": "TX"}}, {"pk": {"S": "TX#b#2"}, "sk": {"S": "TX"}}]}})
    assert meter.rru == {"records": Decimal(3)}  # 2 units for ~5 KB, 1 for the missing key


def test_an_insert_batch_bills_each_statement_as_the_put_it_stands_for(
        metered: tuple[Any, Meter, str]) -> None:
    from chalicelib.adapters.dynamo.dynamo_insert import insert_statement

    ddb, meter, table = metered
    ddb.put_item(TableName=table, Item=tx(1, pad=1500))  # present: its INSERT fails
    meter.reset()
    out = ddb.batch_execute_statement(Statements=[insert_statement(table, tx(1)),
                                                  insert_statement(table, tx(2, pad=1500))])
    assert [r.get("Error", {}).get("Code") for r in out["Responses"]] == ["DuplicateItem", None]
    # the failed one on the stored 1.5 KB item (2), the new 1.5 KB one 2 and its index entry 2
    assert meter.wru == {"records": 4, "index flagged": 2}
    assert meter.calls == {"BatchExecuteStatement": 1}
