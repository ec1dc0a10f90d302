"""The launchers find the local server's address in its "Serving on" line, whatever is beside it."""

from __future__ import annotations

import pytest

from scripts.demo import SERVING


@pytest.mark.parametrize("line", [
    "Serving on http://127.0.0.1:8123\n",
    # a warning on the merged stderr between the text and its newline (seen in CI)
    "Serving on http://127.0.0.1:8123 ... set it in the environment variables.\n",
    "Serving on http://127.0.0.1:8123/usr/lib/python3/warnings.py:1: Warning\n",
    '{"level":"INFO"}Serving on http://127.0.0.1:8123\n',
])
def test_the_address_is_read_from_a_line_with_other_output_in_it(line: str) -> None:
    found = SERVING.search(line)
    assert found is not None and found.group(1) == "http://127.0.0.1:8123"


def test_a_line_without_the_address_is_not_taken_for_it() -> None:
    assert SERVING.search("Serving on variables.\n") is None
