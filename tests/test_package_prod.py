"""`chalice package` of the prod stage, offline and without credentials: the SAM template with
infra/resources.json merged passes cfn-lint, the zip carries no boto3 and no dev tool, and its
PyJWT and cryptography are Lambda's manylinux builds that work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

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
                   capture_output=True, timeout=120)
    return out


def template(packaged: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((packaged / "sam.json").read_text())
    return body


def test_packaged_template_passes_cfn_lint_with_zero_errors(packaged: Path) -> None:
    lint = subprocess.run([str(BIN / "cfn-lint"), str(packaged / "sam.json")],
                          capture_output=True, text=True, timeout=120)
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


def test_deployment_zip_holds_pyjwt_and_cryptography_built_for_lambda(packaged: Path) -> None:
    from scripts.check_package import LIMIT_BYTES, problems

    archive = packaged / "deployment.zip"
    assert problems(archive) == []
    size = archive.stat().st_size
    print(f"deployment.zip: {size} bytes")
    assert 1_000_000 < size < LIMIT_BYTES  # cryptography's compiled part is most of it


def test_the_zips_own_pyjwt_verifies_a_token_in_a_bare_interpreter(
        packaged: Path, tmp_path: Path) -> None:
    # The packaged manylinux wheels, not the venv's, on a bare interpreter (-S: no
    # site-packages): sign with the zip's cryptography, verify with the zip's PyJWT, as the
    # Lambda would on its first bearer token.
    with zipfile.ZipFile(packaged / "deployment.zip") as zf:
        zf.extractall(tmp_path / "task")
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import jwt, cryptography\n"
        "from cryptography.hazmat.primitives.asymmetric import rsa\n"
        "assert jwt.__file__.startswith(sys.argv[1]), jwt.__file__\n"
        "assert cryptography.__file__.startswith(sys.argv[1]), cryptography.__file__\n"
        "key = rsa.generate_private_key(public_exponent=65537, key_size=2048)\n"
        "token = jwt.encode({'sub': 'x'}, key, algorithm='RS256')\n"
        "print(jwt.decode(token, key.public_key(), algorithms=['RS256'])['sub'])\n")
    done = subprocess.run([sys.executable, "-S", "-c", probe, str(tmp_path / "task")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "x", done.stderr


def test_template_holds_the_user_pool_the_code_expects(packaged: Path) -> None:
    from chalicelib.caller import (
        BANK_GROUP_PREFIX,
        READ_SCOPE,
        RESOURCE_SERVER,
        WRITE_SCOPE,
        WRITERS_GROUP,
    )

    body = template(packaged)
    resources = body["Resources"]
    assert "AWS::LanguageExtensions" in body["Transform"]  # Fn::ForEach over the banks
    server = resources["UserPoolResourceServer"]["Properties"]
    assert [f"{server['Identifier']}/{s['ScopeName']}" for s in server["Scopes"]] == [
        READ_SCOPE, WRITE_SCOPE]
    assert server["Identifier"] == RESOURCE_SERVER
    people = resources["PeopleClient"]["Properties"]
    assert READ_SCOPE in people["AllowedOAuthScopes"]
    assert WRITE_SCOPE not in people["AllowedOAuthScopes"]  # a person reads unless granted more
    assert people["GenerateSecret"] is False
    system = resources["SystemClient"]["Properties"]
    assert system["AllowedOAuthFlows"] == ["client_credentials"] and system["GenerateSecret"]
    assert set(system["AllowedOAuthScopes"]) == {READ_SCOPE, WRITE_SCOPE}
    assert resources["WritersGroup"]["Properties"]["GroupName"] == WRITERS_GROUP
    _, banks, group = resources["Fn::ForEach::BankGroups"]
    assert banks == {"Ref": "BankIds"}
    (bank_group,) = group.values()
    assert bank_group["Properties"]["GroupName"] == {"Fn::Sub": BANK_GROUP_PREFIX + "${Bank}"}
    variables = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["COGNITO_USER_POOL_ID"] == {"Ref": "UserPool"}
    clients = variables["COGNITO_CLIENT_IDS"]["Fn::Join"][1]
    assert {"Ref": "PeopleClient"} in clients and {"Ref": "SystemClient"} in clients
    assert {"UserPoolId", "PeopleClientId", "SystemClientId", "TokenEndpoint",
            "TokenIssuer"} <= set(body["Outputs"])


def test_deployment_zip_carries_the_dashboard_files(packaged: Path) -> None:
    """chalice package copies chalicelib/ whole: the page, its scripts and uPlot's licence."""
    with zipfile.ZipFile(packaged / "deployment.zip") as zf:
        names = set(zf.namelist())
    web = "chalicelib/web/"
    assert {web + "index.html", web + "app.js", web + "app.css", web + "vendor/uplot.min.js",
            web + "vendor/uplot.min.css", web + "vendor/uplot.LICENSE"} <= names
