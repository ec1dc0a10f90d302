"""What docs/tour.md cites is there: every file, every function (`path:function`, or a class's
method `path:Class.method`), every template resource and policy statement (`file.json:Name`),
every IAM statement it quotes word for word, every `make` target and `python -m` module, and
every cost figure in docs/cost.md. So the tour fails as soon as the code it cites moves;
tests/e2e/test_tour.py runs its commands."""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from scripts import tour

ROOT = Path(__file__).resolve().parents[3]
TEXT = tour.TOUR_MD.read_text(encoding="utf-8")
CITATION = re.compile(r"^(?P<path>\.?[\w./-]+\.(?:py|json|md|dot|svg|txt))(?::(?P<name>[\w.]+))?$")
MODULE = re.compile(r"^(?:app|chalicelib|scripts|simulator|bench)(?:\.\w+)+$")


def prose(text: str = TEXT) -> str:
    """The page without its fenced blocks."""
    return re.sub(r"^```[^\n]*\n.*?^```[ \t]*$", "", text, flags=re.MULTILINE | re.DOTALL)


def code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", prose(text))


def fenced(text: str = TEXT) -> list[tuple[str, str]]:
    """(info string, body) of each fenced block."""
    return re.findall(r"^```([^\n]*)\n(.*?)^```[ \t]*$", text, flags=re.MULTILINE | re.DOTALL)


@cache
def python_names(path: Path) -> frozenset[str]:
    """Top-level functions, classes and assignments, and `Class.member` for class bodies."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            if isinstance(node, ast.ClassDef):
                names |= {f"{node.name}.{member.name}" for member in node.body
                          if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef))}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return frozenset(names)


def json_names(path: Path) -> frozenset[str]:
    """A template's resources (a Fn::ForEach's by the name it makes) or a policy's Sids."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if "Statement" in document:
        return frozenset(s["Sid"] for s in document["Statement"] if "Sid" in s)
    names = set()
    for name, body in document.get("Resources", {}).items():
        if name.startswith("Fn::ForEach::"):
            names |= {key.split("&", 1)[0] for key in body[2]}
        else:
            names.add(name)
    return frozenset(names)


def missing(citation: str) -> str | None:
    """Why a citation does not hold, or None."""
    match = CITATION.match(citation)
    if match is None:  # module.function: the longest prefix that is a module
        parts = citation.split(".")
        for cut in range(len(parts), 0, -1):
            path = ROOT.joinpath(*parts[:cut]).with_suffix(".py")
            name = ".".join(parts[cut:])
            if path.exists():
                return None if not name or name in python_names(path) else \
                    f"{path.relative_to(ROOT)} defines no {name}"
        return "no such module"
    path, name = ROOT / match["path"], match["name"]
    if not path.exists():
        return "no such file"
    if name is None:
        return None
    names = python_names(path) if path.suffix == ".py" else json_names(path)
    return None if name in names else f"{match['path']} has no {name}"


def test_the_page_cites_code_at_all() -> None:
    cited = [c for c in code_spans(TEXT) if CITATION.match(c) or MODULE.match(c)]
    assert len([c for c in cited if ":" in c]) >= 40


def test_every_cited_file_function_resource_and_statement_exists() -> None:
    broken = {c: why for c in code_spans(TEXT) if CITATION.match(c) or MODULE.match(c)
              if (why := missing(c))}
    assert not broken, broken


def test_a_citation_that_moved_is_caught() -> None:
    assert missing("chalicelib/usecases/ledger.py:ingest") is None
    assert missing("chalicelib/usecases/ledger.py:ingest_everything") is not None
    assert missing("chalicelib/usecases/ledger_gone.py:ingest") == "no such file"
    assert missing("chalicelib/adapters/s3_archive.py:S3Archive.put") is None
    assert missing("chalicelib/adapters/s3_archive.py:S3Archive.get") is not None
    assert missing(".chalice/policy-prod.json:LedgerTable") is None
    assert missing(".chalice/policy-prod.json:Everything") is not None
    assert missing("infra/resources.json:BankGroup") is None
    assert missing("chalicelib.usecases.ledger.ingest") is None
    assert missing("scripts.worker") is None
    assert missing("scripts.worker.go") is not None


def test_quoted_iam_statements_are_word_for_word_the_policy_files() -> None:
    quoted = [(info.split()[1], json.loads(body)) for info, body in fenced()
              if info.split()[:1] == ["json"] and len(info.split()) > 1]
    assert len(quoted) >= 5
    for file, statement in quoted:
        policy = json.loads((ROOT / file).read_text(encoding="utf-8"))
        own = [s for s in policy["Statement"] if s.get("Sid") == statement["Sid"]]
        assert own == [statement], f"{file} {statement['Sid']}"


def steps() -> list[tuple[str, str]]:
    """(heading, body) of each numbered step."""
    return re.findall(r"^### (\d+\..*?)\n(.*?)(?=^#{2,3} |\Z)", TEXT,
                      flags=re.MULTILINE | re.DOTALL)


def test_every_step_names_its_aws_service_its_code_and_a_command() -> None:
    found = steps()
    assert [int(h.split(".")[0]) for h, _ in found] == list(range(1, len(found) + 1))
    assert len(found) >= 12
    for heading, body in found:
        assert "**On AWS:**" in body, heading
        code = body.split("**Code:**", 1)
        assert len(code) == 2 and re.search(r"`[\w./-]+\.py:\w", code[1]), heading
        assert re.search(r"^```sh tour", body, re.MULTILINE), heading


def test_every_make_target_and_module_the_page_runs_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in set(re.findall(r"`make (\w+)", TEXT)):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target
    modules = set(re.findall(r"-m ((?:scripts|simulator)(?:\.\w+)*)", TEXT))
    assert {"scripts.tour", "scripts.peek", "scripts.keys", "scripts.worker"} <= modules
    for module in modules:
        path = ROOT.joinpath(*module.split("."))
        assert path.with_suffix(".py").exists() or (path / "__main__.py").exists(), module


def cost_section() -> str:
    match = re.search(r"^## What each AWS service does here, and what it costs\n(.*?)(?=^## )",
                      TEXT, flags=re.MULTILINE | re.DOTALL)
    assert match, "the cost section"
    return match.group(1)


def test_cost_figures_and_benchmarks_are_those_of_cost_md() -> None:
    section, cost = cost_section(), (ROOT / "docs" / "cost.md").read_text(encoding="utf-8")
    figures = set(re.findall(r"\$\d+(?:\.\d+)?", section))
    assert len(figures) >= 8
    assert not {f for f in figures if f not in cost}, "figures not in docs/cost.md"
    benches = set(re.findall(r"bench/\w+\.py", section))
    assert benches and benches <= set(re.findall(r"bench/\w+\.py", cost))


@pytest.mark.parametrize("service", ["API Gateway", "Lambda", "DynamoDB", "SQS", "S3",
                                     "CloudWatch", "Cognito", "X-Ray", "IAM"])
def test_the_cost_table_has_a_row_for_every_service_of_the_stack(service: str) -> None:
    rows = [line for line in cost_section().splitlines() if line.startswith("| ")]
    assert any(service in row.split("|")[1] for row in rows[1:]), service
