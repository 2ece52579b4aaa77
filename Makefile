# SRE Copilot: `make demo` and `make test` do all their own set-up.
SHELL := /bin/bash
# Python 3.13, as Azure runs the app; found on PATH or under pyenv unless given.
PYTHON ?=
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test install lint typecheck bench serve clean npm system-deps checkov

# checkov checks bicep/ in the tests. Its pinned dependencies clash with the
# app's (packaging<24, python-dateutil<3), so it gets a virtual environment of
# its own, made from the same Python 3.13.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .tools/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

$(STAMP): pyproject.toml requirements.txt
	@if [ -x $(BIN)/python ] && ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then \
		echo "$(VENV) is not Python 3.13: recreating it"; rm -rf $(VENV); fi
	@if [ ! -x $(BIN)/python ]; then \
		py="$(PYTHON)"; if [ -z "$$py" ]; then py=$$(bash scripts/find-python.sh) || exit 1; fi; \
		echo "creating $(VENV) with $$py"; "$$py" -m venv $(VENV); fi
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,host]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sre-copilot demo $(ARGS)

serve: $(STAMP)
	$(BIN)/sre-copilot serve $(ARGS)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch node_modules/.installed

npm: node_modules/.installed

$(CHECKOV_STAMP): | $(STAMP)
	rm -rf $(CHECKOV_VENV)
	$(BIN)/python -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $(CHECKOV_STAMP)

checkov: $(CHECKOV_STAMP)

# Prometheus and Alertmanager come from Debian's packages; installed when missing and root.
system-deps:
	@bash scripts/install-system-deps.sh

test: $(STAMP) npm system-deps $(CHECKOV_STAMP)
	SRE_COPILOT_REQUIRE_CHECKOV=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP) npm
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/backtest.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .sre-copilot .pytest_cache .mypy_cache .ruff_cache
