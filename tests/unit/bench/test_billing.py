"""AWS's billing rules as bench.billing applies them (DESIGN.md's facts and the issue's are the
spec: sizes, rounding, transactions, failed conditions, indexes, reads, SQS chunks)."""

from __future__ import annotations

from decimal import Decimal

from bench import billing


def test_item_size_is_attribute_names_plus_values() -> None:
    assert billing.item_size({"pk": {"S": "TX#b#1"}, "sk": {"S": "TX"}}) == 2 + 6 + 2 + 2


def test_strings_count_utf8_bytes() -> None:
    assert billing.item_size({"m": {"S": "é"}}) == 1 + 2


def test_numbers_take_about_one_byte_per_two_significant_digits_plus_one() -> None:
    assert billing.number_size("12345") == 4  # 5 digits -> 3 + 1
    assert billing.number_size("1250.00") == 3  # trailing zeros trimmed: 125 -> 2 + 1
    assert billing.number_size("-0.001") == 2  # leading zeros trimmed: 1 -> 1 + 1
    assert billing.number_size("0") == 2


def test_booleans_and_nulls_are_one_byte_lists_and_maps_three_plus_one_per_element() -> None:
    assert billing.item_size({"f": {"BOOL": True}, "n": {"NULL": True}}) == 1 + 1 + 1 + 1
    assert billing.value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    assert billing.value_size({"M": {"k": {"S": "ab"}}}) == 3 + 1 + 1 + 2
    assert billing.value_size({"SS": ["ab", "c"]}) == 3


def test_no_item_has_size_zero() -> None:
    assert billing.item_size(None) == 0


def test_a_write_is_billed_on_the_larger_of_old_and_new_rounded_up_to_1_kb() -> None:
    assert billing.write_units(0, 1) == 1
    assert billing.write_units(0, 1024) == 1
    assert billing.write_units(0, 1025) == 2
    assert billing.write_units(3000, 100) == 3  # shrinking an item costs its old size
    assert billing.write_units(0, 0) == 1  # a delete of nothing still costs the minimum


def test_inside_a_transaction_every_action_costs_twice() -> None:
    assert billing.write_units(0, 500, transactional=True) == 2
    assert billing.write_units(1500, 1500, transactional=True) == 4


def test_a_failed_conditional_write_still_consumes_on_the_stored_item() -> None:
    assert billing.failed_write_units(2100) == 3
    assert billing.failed_write_units(0) == 1
    assert billing.failed_write_units(10, transactional=True) == 2  # a ConditionCheck too


def test_each_index_the_item_is_in_costs_its_own_write() -> None:
    keys = ("g1pk", "g1sk")
    new = {"pk": {"S": "TX#1"}, "g1pk": {"S": "A#1"}, "g1sk": {"S": "t#1"}}
    assert billing.index_write_units(None, new, keys) == 1
    assert billing.index_write_units(new, None, keys) == 1  # the entry is deleted


def test_an_item_outside_a_sparse_index_costs_it_nothing() -> None:
    keys = ("g2pk", "g2sk")
    assert billing.index_write_units(None, {"pk": {"S": "TX#1"}}, keys) == 0


def test_an_unchanged_item_costs_its_index_nothing() -> None:
    same = {"pk": {"S": "X"}, "g1pk": {"S": "A"}, "g1sk": {"S": "1"}}
    assert billing.index_write_units(same, dict(same), ("g1pk", "g1sk")) == 0


def test_a_changed_index_key_is_a_delete_and_a_put() -> None:
    old = {"pk": {"S": "X"}, "g1pk": {"S": "A"}, "g1sk": {"S": "1"}}
    new = {"pk": {"S": "X"}, "g1pk": {"S": "A"}, "g1sk": {"S": "2"}}
    assert billing.index_write_units(old, new, ("g1pk", "g1sk")) == 2
    moved = {**old, "other": {"S": "x"}}
    assert billing.index_write_units(old, moved, ("g1pk", "g1sk")) == 1


def test_an_index_entry_is_billed_on_its_size_with_overhead() -> None:
    big = {"pk": {"S": "X"}, "g1pk": {"S": "A"}, "g1sk": {"S": "1"}, "pad": {"S": "x" * 950}}
    assert billing.item_size(big) <= 1024  # one unit in the table ...
    assert billing.index_entry(big, ("g1pk", "g1sk")) == billing.item_size(big) + 100
    # ... two in the index (1,071 bytes)
    assert billing.index_write_units(None, big, ("g1pk", "g1sk")) == 2


def test_a_strongly_consistent_read_is_one_unit_per_4_kb_and_a_missing_key_still_one() -> None:
    assert billing.read_units(0) == 1
    assert billing.read_units(4096) == 1
    assert billing.read_units(4097) == 2


def test_an_eventually_consistent_read_costs_half() -> None:
    assert billing.read_units(100, consistent=False) == Decimal("0.5")
    assert billing.read_units(9000, consistent=False) == Decimal("1.5")


def test_a_query_is_billed_on_the_summed_size_of_what_it_returns() -> None:
    assert billing.query_units([1500, 1500, 1500]) == 2  # 4,500 bytes, not 3 items
    assert billing.query_units([]) == 1


def test_an_sqs_request_is_billed_per_64_kb_of_payload() -> None:
    assert billing.sqs_requests(0) == 1
    assert billing.sqs_requests(64 * 1024) == 1
    assert billing.sqs_requests(64 * 1024 + 1) == 2


def test_prices_per_million() -> None:
    assert billing.per_million(4_120_000, billing.WRITE_PER_M) == Decimal("2.575")
    assert billing.lambda_cost(1_000_000, Decimal("1"), Decimal("1")) == (
        Decimal("0.20") + Decimal("16.6667"))
