"""`python -m scripts.check_package [build/package/deployment.zip]`: is the Lambda zip whole?

`chalice package` only warns when it cannot get a Lambda-compatible wheel (offline, say) and
then writes a zip without that dependency, which would fail on the first bearer token. This
checks that every runtime dependency is in the zip, that each compiled one was built for
Lambda's platform (manylinux, x86_64, glibc no newer than the python3.11 runtime's 2.26), and
that the zip stays under the size limit; it prints the size.
"""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

DEFAULT_ZIP = Path(__file__).resolve().parent.parent / "build" / "package" / "deployment.zip"
LIMIT_BYTES = 10_000_000  # our budget; Lambda itself allows 50 MB zipped
REQUIRED = ("jwt", "cryptography", "cffi", "app.py", "chalicelib")  # PyJWT[crypto] and the app
RUNTIME_GLIBC = (2, 26)  # Lambda python3.11 (Amazon Linux 2)
TAG = re.compile(r"Tag: (\S+)")
MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_x86_64|manylinux(2014|2010|1)_x86_64")
LEGACY = {"2014": (2, 17), "2010": (2, 12), "1": (2, 5)}


def platform_ok(tag: str) -> bool:
    """A wheel tag Lambda python3.11 on x86_64 can load (pure, or manylinux <= glibc 2.26)."""
    python, abi, platform = tag.split("-")
    if platform == "any":
        return True
    stable_abi = abi == "abi3" and python.startswith("cp3") and int(python[3:]) <= 11
    if python != "cp311" and not stable_abi:
        return False
    match = MANYLINUX.fullmatch(platform)
    if match is None:
        return False
    glibc = LEGACY[match.group(3)] if match.group(3) else (int(match.group(1)),
                                                             int(match.group(2)))
    return glibc <= RUNTIME_GLIBC


def problems(path: Path) -> list[str]:
    """What is wrong with the zip at `path` (nothing: an empty list)."""
    found: list[str] = []
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        tops = {name.split("/", 1)[0] for name in names}
        found += [f"{need} is missing" for need in REQUIRED if need not in tops]
        for name in names:
            if name.endswith(".dist-info/WHEEL"):
                tags = TAG.findall(archive.read(name).decode())
                if tags and not any(platform_ok(tag) for tag in tags):
                    found.append(f"{name.split('/')[0]} is built for {', '.join(tags)}, "
                                 "not Lambda's manylinux x86_64")
    size = path.stat().st_size
    if size >= LIMIT_BYTES:
        found.append(f"{size:,} bytes is over the {LIMIT_BYTES:,}-byte budget")
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_ZIP
    found = problems(path)
    for problem in found:
        print(f"error: {path}: {problem}", file=sys.stderr)
    if not found:
        print(f"{path}: {path.stat().st_size:,} bytes, every runtime dependency present and "
              "built for Lambda")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
