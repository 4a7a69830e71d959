# Two entry points for a fresh clone (see README.md):
#   make conformance   the main job: the conformance suite against the reference server
#   make test          every test, lint and type check
# Both create the virtualenvs they need on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The real SDK peers pin websockets<16/<17, so they live in a virtualenv of their own.
PEERS_VENV := .venv-peers
PEERS_BIN := $(PEERS_VENV)/bin
REPORT_DIR ?= conformance-report

.PHONY: conformance test lint typecheck pytest peers spec-check spec-render clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(PEERS_BIN)/.installed: peers-requirements.txt
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_BIN)/python -m pip install --quiet --upgrade pip
	$(PEERS_BIN)/python -m pip install --quiet -r peers-requirements.txt
	touch $@

peers: $(PEERS_BIN)/.installed

conformance: $(BIN)/.installed
	$(BIN)/responses-ws check --spawn-reference --report-dir $(REPORT_DIR)

spec-check: $(BIN)/.installed
	$(BIN)/responses-ws spec check

spec-render: $(BIN)/.installed
	$(BIN)/responses-ws spec render

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

pytest: $(BIN)/.installed peers
	RWS_PEERS_PYTHON=$(abspath $(PEERS_BIN))/python $(BIN)/pytest

test: lint typecheck spec-check pytest

clean:
	rm -rf $(VENV) $(PEERS_VENV) build dist site $(REPORT_DIR)
