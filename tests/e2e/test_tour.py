"""docs/tour.md runs as written: every command block marked for the tour (```sh tour) runs in
one shell against the tour's world (scripts/tour.py: the dev stage's server on SQLite, its
archive on moto's S3, and the prod stage on DynamoDB Local), exits 0, and prints what the page
shows below it, in shape (tests/support/shapes.py: keys, statuses and values; times, ids and
what the page marks `…` by form only). What the page cites is checked without running anything
in tests/unit/docs/test_tour_text.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import tour
from scripts.dynamodb_local import DynamoDBLocal, NoJava, java
from tests.support import shapes

pytestmark = [pytest.mark.e2e, pytest.mark.emulator]


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> DynamoDBLocal | bool:
    """This worker's DynamoDB Local, or False without java (the tour then skips those steps;
    a missing jar with java present is an error, as for every emulator test)."""
    try:
        java()
    except NoJava:
        return False
    running: DynamoDBLocal = request.getfixturevalue("dynamodb_local")
    return running


def test_every_tour_command_runs_and_prints_what_the_page_shows(
        tmp_path: Path, emulator: DynamoDBLocal | bool) -> None:
    blocks = tour.parse(tour.TOUR_MD.read_text(encoding="utf-8"))
    assert len(blocks) >= 15 and any(b.needs == {tour.DYNAMODB} for b in blocks)
    with tour.World(tmp_path / "tour", dynamodb=emulator) as world:
        results = tour.run_tour(blocks, world, echo=False)
    problems = []
    for block, printed, status in results:
        where = f"docs/tour.md line {block.line} ({block.heading})"
        if status is None:
            continue
        if status != 0:
            problems.append(f"{where}: exit status {status}\n{printed}")
        elif block.expected is None:
            problems.append(f"{where}: no ```output block follows the command")
        else:
            found = shapes.differences(block.expected, printed)
            if found:
                problems.append(f"{where}:\n  " + "\n  ".join(found)
                                + f"\n--- it printed:\n{printed}")
    assert not problems, "\n\n".join(problems)
    ran = [b for b, _, status in results if status is not None]
    assert ran and all(b.expected for b in ran)
    if world.skipped:  # what did run is checked above; say what could not
        pytest.skip("; ".join(f"{need} steps: {why}" for need, why in world.skipped.items()))
