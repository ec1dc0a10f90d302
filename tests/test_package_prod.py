"""`chalice package` of the prod stage, offline and without credentials: the SAM template with
infra/resources.json merged passes cfn-lint, and the zip carries no boto3 and no dev tool."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
FORBIDDEN = ("boto3", "botocore", "s3transfer", "moto", "pytest", "_pytest", "hypothesis",
             "mypy", "ruff", "cfnlint", "faker", "schemathesis", "mypy_boto3_dynamodb",
             "tests", "bench", "scripts", "infra")


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package") / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    subprocess.run([str(BIN / "chalice"), "package", "--stage", "prod", "--merge-template",
                    "infra/resources.json", str(out)], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=600)
    return out


def template(packaged: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((packaged / "sam.json").read_text())
    return body


def test_packaged_template_passes_cfn_lint_with_zero_errors(packaged: Path) -> None:
    lint = subprocess.run([str(BIN / "cfn-lint"), str(packaged / "sam.json")],
                          capture_output=True, text=True, timeout=600)
    assert lint.returncode & 2 == 0, lint.stdout  # bit 2: errors (4: warnings, 8: info)
    assert lint.returncode == 0, lint.stdout  # and, as it stands, no warning either


def test_template_holds_the_table_as_the_provisioning_script_creates_it(packaged: Path) -> None:
    from scripts.provision import table_properties

    resources = template(packaged)["Resources"]
    table = resources["LedgerTable"]["Properties"]
    assert table == table_properties()
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {"by_account", "flagged"}
    assert resources["ArchiveBucket"]["Condition"] == "HasArchive"
    variables = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["STORE"] == "dynamodb"
    assert variables["TABLE_NAME"] == table["TableName"]
    assert {"LedgerTableName", "LedgerTableArn"} <= set(template(packaged)["Outputs"])


def test_function_role_is_the_policy_file_not_chalice_autogen(packaged: Path) -> None:
    role = template(packaged)["Resources"]["ApiHandlerRole"]["Properties"]
    policy = json.loads((ROOT / ".chalice" / "policy-prod.json").read_text())
    assert [p["PolicyDocument"] for p in role["Policies"]] == [policy]


def test_deployment_zip_holds_only_the_app_without_boto3_or_dev_tools(packaged: Path) -> None:
    archive = packaged / "deployment.zip"
    with zipfile.ZipFile(archive) as zf:
        tops = {name.split("/", 1)[0] for name in zf.namelist()}
    assert not tops & set(FORBIDDEN), tops & set(FORBIDDEN)
    assert {"app.py", "chalicelib"} <= tops
    size = archive.stat().st_size
    print(f"deployment.zip: {size} bytes")
    assert size < 1_000_000


def test_deployment_zip_carries_the_dashboard_files(packaged: Path) -> None:
    """chalice package copies chalicelib/ whole: the page, its scripts and uPlot's licence."""
    with zipfile.ZipFile(packaged / "deployment.zip") as zf:
        names = set(zf.namelist())
    web = "chalicelib/web/"
    assert {web + "index.html", web + "app.js", web + "app.css", web + "vendor/uplot.min.js",
            web + "vendor/uplot.min.css", web + "vendor/uplot.LICENSE"} <= names
