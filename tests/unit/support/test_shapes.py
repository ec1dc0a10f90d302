"""tests/support/shapes.py: what a page's sample output lets vary, and what it does not."""

from __future__ import annotations

from tests.support.shapes import differences

SAMPLE = """HTTP/1.1 201 Created
Server: …
{"status": "created", "amount": "11.69", "at": "2026-12-04T16:16:07.062+00:00",
 "request_id": "5a227e10-d429-43b5-ad8a-c8710d5046b9", "latency_ms": …, "flags": []}
"""


def printed(**changes: str) -> str:
    values = {"status": '"created"', "amount": '"11.69"',
              "at": '"2026-01-31T09:00:00.123+00:00"',
              "request_id": '"0e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7"', "latency": "3.5",
              "flags": "[]", **changes}
    return ("HTTP/1.1 201 Created\r\nServer: BaseHTTP/0.6 Python/3.12.1\r\n\r\n"
            f'{{"status":{values["status"]},"amount":{values["amount"]},"at":{values["at"]},'
            f'"request_id":{values["request_id"]},"latency_ms":{values["latency"]},'
            f'"flags":{values["flags"]}}}')


def test_times_ids_and_what_the_sample_marks_vary_freely() -> None:
    assert differences(SAMPLE, printed()) == []


def test_another_status_or_amount_is_a_difference() -> None:
    assert differences(SAMPLE, printed(status='"duplicate"'))
    assert differences(SAMPLE, printed(amount='"11.690"'))
    assert differences(SAMPLE, printed(amount="11.69"))  # a number where a string was shown


def test_a_missing_key_or_an_extra_item_is_a_difference() -> None:
    assert differences(SAMPLE, printed().replace(',"flags":[]', ""))
    assert differences(SAMPLE, printed(flags='["large_amount"]'))


def test_a_time_in_another_layout_is_a_difference() -> None:
    assert differences(SAMPLE, printed(at='"2026-01-31 09:00"'))


def test_another_status_line_or_a_missing_chunk_is_a_difference() -> None:
    assert differences(SAMPLE, printed().replace("201 Created", "200 OK"))
    assert differences(SAMPLE, printed().split("\r\n\r\n")[1])
