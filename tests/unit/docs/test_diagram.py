"""docs/img/architecture.dot shows the deployed system as the template and the policies define
it, and docs/img/architecture.svg was rendered from it (`make diagram`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scripts import diagram

ROOT = Path(__file__).resolve().parents[3]
SOURCE = diagram.SOURCE.read_text(encoding="utf-8")
POLICIES = [ROOT / ".chalice" / "policy-prod.json", ROOT / ".chalice" / "policy-prod-consumer.json",
            ROOT / ".chalice" / "policy-prod-dispatcher.json",
            ROOT / ".chalice" / "policy-prod-webhooks.json",
            ROOT / "infra" / "operator-policy.json"]
# Chalice's own resources in the packaged template, beside those of infra/resources.json
CHALICE_RESOURCES = ["RestAPI", "APIHandler", "ConsumeIngest", "ApiHandlerRole",
                     "ConsumeIngestRole", "DispatchWebhooks", "DeliverWebhooks",
                     "DispatchWebhooksRole", "DeliverWebhooksRole"]


def template_resources() -> list[str]:
    resources = json.loads((ROOT / "infra" / "resources.json").read_text())["Resources"]
    names = []
    for name, body in resources.items():
        if name.startswith("Fn::ForEach::"):  # one resource per bank: BankGroup&{Bank}
            names += [key.split("&", 1)[0] for key in body[2]]
        else:
            names.append(name)
    return names


def test_the_image_was_rendered_from_this_source() -> None:
    svg = diagram.IMAGE.read_text(encoding="utf-8")
    assert diagram.stamp_of(svg) == diagram.source_digest(), "stale: run make diagram"
    assert "<svg" in svg and "LedgerTable" in svg


@pytest.mark.parametrize("name", [*template_resources(), *CHALICE_RESOURCES])
def test_the_source_names_every_resource_of_the_stack(name: str) -> None:
    # a whole word; a label's line break (backslash n) counts as a boundary
    assert re.search(rf"(?:(?<![A-Za-z0-9])|(?<=\\n)){re.escape(name)}(?![A-Za-z0-9])",
                     SOURCE), name


def test_the_source_shows_the_table_items_and_indexes() -> None:
    table = json.loads((ROOT / "infra" / "resources.json").read_text())["Resources"][
        "LedgerTable"]["Properties"]
    for index in table["GlobalSecondaryIndexes"]:
        assert index["IndexName"] in SOURCE
    prefixes = re.findall(r'return f"([A-Z]{2})#',
                          (ROOT / "chalicelib/adapters/dynamo/dynamo_table.py").read_text())
    assert len(prefixes) >= 8
    for prefix in prefixes:  # every item kind the single-table layout keys
        assert f"{prefix}#" in SOURCE, prefix


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_the_source_says_which_role_may_call_what(policy: Path) -> None:
    assert str(policy.relative_to(ROOT)) in SOURCE
    for statement in json.loads(policy.read_text())["Statement"]:
        assert statement["Sid"] in SOURCE, statement["Sid"]
        for action in statement["Action"]:
            service, verb = action.split(":")
            assert action in SOURCE or (f"{service}:" in SOURCE and verb in SOURCE), action
