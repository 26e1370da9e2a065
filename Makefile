# The two commands of the README are `make run` and `make test`; everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run sandbox test lint format typecheck pytest bench install clean lock browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the app on http://localhost:$${PORT:-8000} (embedded Redis when REDIS_URL is unset).
run: $(STAMP)
	$(BIN)/saleor-up2pay serve

## Start the local Up2pay sandbox on http://localhost:8090.
sandbox: $(STAMP)
	$(BIN)/saleor-up2pay sandbox

## Install everything, then lint, type-check and run the whole test suite.
test: $(STAMP) browser lint typecheck pytest

pytest: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy saleor_up2pay

## Headless Chromium for the dashboard browser tests (Debian's package; no browser download).
browser:
	@sh scripts/install-browser.sh

## Load the app's hot paths with wrk beside a bare endpoint (benchmarks/README.md); ARGS=--quick.
bench: $(STAMP)
	@sh benchmarks/install-wrk.sh
	$(BIN)/python -m benchmarks $(ARGS)

## Refresh constraints.txt from a clean resolve of pyproject.toml.
lock:
	rm -rf /tmp/saleor-up2pay-lock && $(PYTHON) -m venv /tmp/saleor-up2pay-lock
	/tmp/saleor-up2pay-lock/bin/pip install -q '.[dev]'
	/tmp/saleor-up2pay-lock/bin/pip freeze --exclude saleor-up2pay > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
