"""`make diagram`: render docs/img/architecture.dot to docs/img/architecture.svg with Graphviz
(`dot`), stamping the SVG with the SHA-256 of the source it was drawn from, so a test can tell
a stale picture without Graphviz installed (tests/unit/docs/test_diagram.py)."""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

IMG = Path(__file__).resolve().parent.parent / "docs" / "img"
SOURCE = IMG / "architecture.dot"
IMAGE = IMG / "architecture.svg"
STAMP = "<!-- drawn from architecture.dot, sha256 {digest} (make diagram) -->"


def source_digest(source: Path = SOURCE) -> str:
    """The SHA-256 of the source as committed (line endings as they are)."""
    return hashlib.sha256(source.read_bytes()).hexdigest()


def stamp_of(svg: str) -> str | None:
    """The source digest an SVG says it was drawn from, or None."""
    head, _, rest = STAMP.partition("{digest}")
    start = svg.find(head)
    if start < 0:
        return None
    end = svg.find(rest, start + len(head))
    return svg[start + len(head):end] if end > 0 else None


def render(source: Path = SOURCE, dot: str = "dot") -> str:
    """The SVG Graphviz draws from `source`, stamped with the source's digest."""
    svg = subprocess.run([dot, "-Tsvg", str(source)], check=True, capture_output=True,
                         text=True).stdout
    stamp = STAMP.format(digest=source_digest(source))
    declaration_end = svg.find("?>") + 2 if svg.startswith("<?xml") else 0
    return f"{svg[:declaration_end]}\n{stamp}{svg[declaration_end:]}"


def main(argv: list[str] | None = None) -> int:
    """Write the SVG beside its source; 2 when Graphviz is missing."""
    parser = argparse.ArgumentParser(prog="python -m scripts.diagram", description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="only say whether the SVG was drawn from the current source")
    args = parser.parse_args(argv)
    if args.check:
        fresh = stamp_of(IMAGE.read_text(encoding="utf-8")) == source_digest()
        print(f"{IMAGE.name} is {'up to date' if fresh else 'stale: run make diagram'}")
        return 0 if fresh else 1
    dot = shutil.which("dot")
    if dot is None:
        print("error: Graphviz's `dot` is not on PATH (apt-get install graphviz, "
              "brew install graphviz)", file=sys.stderr)
        return 2
    IMAGE.write_text(render(SOURCE, dot), encoding="utf-8")
    print(f"wrote {IMAGE.relative_to(IMG.parent.parent)} from {SOURCE.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
