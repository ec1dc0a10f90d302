"""`make diagram` renders docs/img/architecture.dot with Graphviz, and what it draws is what
the committed SVG shows (the labels, not the bytes: another Graphviz lays out differently)."""

from __future__ import annotations

import re
import shutil

import pytest

from scripts import diagram

pytestmark = pytest.mark.e2e


def labels(svg: str) -> list[str]:
    return sorted(re.findall(r"<text[^>]*>([^<]*)</text>", svg))


def test_rendering_the_source_draws_what_the_committed_image_shows() -> None:
    dot = shutil.which("dot")
    if dot is None:
        pytest.skip("Graphviz's dot is not installed (apt-get install graphviz)")
    fresh = diagram.render(diagram.SOURCE, dot)
    committed = diagram.IMAGE.read_text(encoding="utf-8")
    assert diagram.stamp_of(fresh) == diagram.stamp_of(committed)
    assert labels(fresh) == labels(committed) and len(labels(fresh)) > 50
