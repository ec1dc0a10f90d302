"""scripts/tour.py without running anything: how the page's blocks are read, and what happens
to the DynamoDB steps where DynamoDB Local cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import tour
from scripts.dynamodb_local import EmulatorUnavailable, NoJava

PAGE = """# Title

## Part

### 1. First

```sh tour
echo one
echo two
```

Some prose.

```output
one
two
```

```sh
echo not for the tour
```

### 2. Second

```sh tour dynamodb
echo three
```

```json .chalice/policy-prod.json
{"Sid": "x"}
```

```output
three
```

```sh tour
echo four
```
"""


def test_command_blocks_come_with_their_heading_needs_and_sample_output() -> None:
    blocks = tour.parse(PAGE)
    assert [(b.heading, b.command, b.expected, b.needs) for b in blocks] == [
        ("1. First", "echo one\necho two", "one\ntwo", frozenset()),
        ("2. Second", "echo three", "three", frozenset({"dynamodb"})),
        ("2. Second", "echo four", None, frozenset()),
    ]
    assert blocks[0].line == PAGE.splitlines().index("echo one") + 1


def test_the_tour_page_has_command_blocks_each_with_a_sample() -> None:
    blocks = tour.parse(tour.TOUR_MD.read_text(encoding="utf-8"))
    assert len(blocks) >= 15
    assert all(b.expected for b in blocks)


@pytest.mark.parametrize("missing", [NoJava("java is not on PATH"),
                                     EmulatorUnavailable("run `make install`")])
def test_without_java_or_the_jar_the_dynamodb_steps_are_skipped_with_the_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: Exception) -> None:
    def unavailable() -> str:
        raise missing

    monkeypatch.setattr(tour, "java", unavailable)
    world = tour.World(tmp_path)
    assert world._dynamodb() is None
    assert world.skipped == {tour.DYNAMODB: str(missing)}
