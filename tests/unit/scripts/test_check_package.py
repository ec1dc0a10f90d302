"""scripts.check_package: a zip missing a runtime dependency, or holding a wheel Lambda cannot
load, is refused (chalice package itself only warns when it cannot find a Lambda wheel)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from scripts.check_package import main, platform_ok, problems

WHEEL = "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n{tags}"


def make_zip(path: Path, tops: list[str], tags: dict[str, list[str]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for top in tops:
            zf.writestr(f"{top}/__init__.py" if "." not in top else top, "")
        for dist, wheel_tags in tags.items():
            zf.writestr(f"{dist}.dist-info/WHEEL",
                        WHEEL.format(tags="".join(f"Tag: {t}\n" for t in wheel_tags)))
    return path


ALL = ["jwt", "cryptography", "cffi", "app.py", "chalicelib"]
GOOD = {"cryptography-50.0.2": ["cp311-abi3-manylinux_2_17_x86_64",
                                "cp311-abi3-manylinux2014_x86_64"],
        "cffi-2.1.1": ["cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"],
        "pyjwt-2.15.1": ["py3-none-any"]}


def test_a_whole_zip_built_for_lambda_passes(tmp_path: Path) -> None:
    assert problems(make_zip(tmp_path / "ok.zip", ALL, GOOD)) == []
    assert main([str(tmp_path / "ok.zip")]) == 0


def test_a_zip_without_cryptography_fails(tmp_path: Path) -> None:
    # what `chalice package` writes, with only a warning, when it cannot get the wheel
    found = problems(make_zip(tmp_path / "bad.zip", ["jwt", "app.py", "chalicelib"], {}))
    assert found == ["cryptography is missing", "cffi is missing"]
    assert main([str(tmp_path / "bad.zip")]) == 1


@pytest.mark.parametrize("tag, ok", [
    ("py3-none-any", True), ("cp311-abi3-manylinux2014_x86_64", True),
    ("cp39-abi3-manylinux_2_26_x86_64", True), ("cp311-cp311-manylinux_2_17_x86_64", True),
    ("cp311-abi3-manylinux_2_34_x86_64", False),  # this machine's glibc, not Lambda's
    ("cp311-abi3-manylinux2014_aarch64", False), ("cp312-cp312-manylinux2014_x86_64", False),
    ("cp311-abi3-macosx_11_0_arm64", False), ("cp311-cp311-linux_x86_64", False)])
def test_wheel_tags_lambda_python311_can_load(tag: str, ok: bool) -> None:
    assert platform_ok(tag) is ok


def test_a_wheel_for_a_newer_glibc_fails(tmp_path: Path) -> None:
    tags = {**GOOD, "cryptography-50.0.2": ["cp311-abi3-manylinux_2_34_x86_64"]}
    (problem,) = problems(make_zip(tmp_path / "new.zip", ALL, tags))
    assert "cryptography-50.0.2.dist-info is built for cp311-abi3-manylinux_2_34" in problem
