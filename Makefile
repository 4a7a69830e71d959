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
# Codex CLI, the most used WebSocket-mode client, is a peer too: its npm package (and the
# platform binary it depends on, from the npm registry) in a folder of its own.
CODEX_VERSION := 0.171.0
CODEX_DIR := .peers-codex
CODEX := $(CODEX_DIR)/node_modules/.bin/codex
CODEX_STAMP := $(CODEX_DIR)/.installed-$(CODEX_VERSION)
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

$(CODEX_STAMP):
	@command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq npm)
	rm -rf $(CODEX_DIR) && mkdir -p $(CODEX_DIR)
	npm install --prefix $(CODEX_DIR) --save-exact --ignore-scripts --no-audit --no-fund \
		--loglevel=error @openai/codex@$(CODEX_VERSION)
	$(CODEX) --version
	touch $@

peers: $(PEERS_BIN)/.installed $(CODEX_STAMP)

conformance: $(BIN)/.installed
	$(BIN)/responses-ws check --spawn-reference --report-dir $(REPORT_DIR)

# The client conformance suite for the shipped adapters (raw websockets, openai SDK,
# openai-agents, Codex CLI): REPORT_DIR/report.json has one entry per adapter and check.
.PHONY: client-conformance
client-conformance: $(BIN)/.installed peers
	RWS_PEERS_PYTHON=$(abspath $(PEERS_BIN))/python RWS_CODEX=$(abspath $(CODEX)) \
		$(BIN)/responses-ws check-client --shipped all --jobs 6 --report-dir $(REPORT_DIR)

# Benchmarks (issue 8) and fuzzing (issue 6) against the reference server, on loopback.
.PHONY: bench fuzz
bench: $(BIN)/.installed
	$(BIN)/responses-ws bench --quick

fuzz: $(BIN)/.installed
	$(BIN)/responses-ws fuzz --spawn-reference --both

# The stress probes (issue 18), each on a fresh reference server it starts: slow and stalled
# readers, a queue flood, large and compressed inputs, a bad-frame flood. Prints a table of
# figures (server RSS and CPU from its pid, another connection's latency) with WARNING or
# INFORMATIONAL verdicts and writes the reports; about three minutes with the default
# parameters (those of issue 18). Another server: responses-ws check --stress --server-url
# URL [--server-pid PID]. STRESS_ARGS adds options, e.g. STRESS_ARGS='--stress-probe
# slow-reader --stress-param slow-reader.seconds=10'. A locked SQLite store is no wire probe:
# tests/reference_impl/test_store_faults.py covers it for the reference server.
STRESS_REPORT_DIR ?= build/stress-report
STRESS_ARGS ?=
.PHONY: stress
stress: $(BIN)/.installed
	$(BIN)/responses-ws check --stress --spawn-reference --report-dir $(STRESS_REPORT_DIR) \
		$(STRESS_ARGS)

spec-check: $(BIN)/.installed
	$(BIN)/responses-ws spec check

spec-render: $(BIN)/.installed
	$(BIN)/responses-ws spec render

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

# Worker processes for the tests: most of a test's time is spent waiting on the servers and
# clients it starts, so two workers keep two cores busy (three made timing-sensitive checks
# miss their margins). --dist loadfile keeps each file in one worker, so that a module's
# fixture (one server per fault, the proof matrix's runs) starts once. PYTEST_WORKERS=0 runs them in this process; PYTEST_ARGS adds options, e.g.
# PYTEST_ARGS='-m "not slow"' for the quick subset.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
pytest: $(BIN)/.installed peers
	RWS_PEERS_PYTHON=$(abspath $(PEERS_BIN))/python RWS_CODEX=$(abspath $(CODEX)) $(BIN)/pytest \
		-n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test: lint typecheck spec-check docs-check browser pytest

# --- The documentation site (mkdocs + Material) -------------------------------------------
# Mermaid is vendored from its npm package so that the site renders diagrams offline.
MERMAID_VERSION := 11.17.2
MERMAID_JS := docs/assets/vendor/mermaid.min.js
DOCS_PORT ?= 8000

.PHONY: docs docs-check docs-generate docs-report docs-vendor serve-docs browser

$(MERMAID_JS):
	@command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq npm)
	rm -rf build/mermaid && mkdir -p build/mermaid
	cd build/mermaid && npm pack --silent mermaid@$(MERMAID_VERSION) >/dev/null
	tar -xzf build/mermaid/mermaid-$(MERMAID_VERSION).tgz -C build/mermaid \
		package/dist/mermaid.min.js package/LICENSE
	cp build/mermaid/package/LICENSE docs/assets/vendor/LICENSE.mermaid
	cp build/mermaid/package/dist/mermaid.min.js $@

docs-vendor: $(MERMAID_JS)

# Regenerate the pages derived from spec/, schemas/, the scenarios and the reference run.
docs-generate: $(BIN)/.installed
	$(BIN)/responses-ws docs generate

# The site's second column of server verdicts: the reference server with its model that
# behaves like a real one, tested as a server that runs its own model is (import-report files
# the run by the model its report names).
ANY_MODEL_ARGS := --model freeform-1 --profile core,multiplex,steering,http

# Run the server suite against the reference server (with conformance-1, and with a model of
# its own) and the client suite against the shipped raw-websockets adapter, and record their
# verdicts for the requirement index (a failing check still leaves a report: the index shows it).
docs-report: $(BIN)/.installed
	rm -rf build/docs-report build/docs-any-model-report build/docs-client-report
	-$(BIN)/responses-ws check --spawn-reference --report-dir build/docs-report
	$(BIN)/responses-ws docs import-report build/docs-report/report.json
	-$(BIN)/responses-ws check --spawn-reference $(ANY_MODEL_ARGS) \
		--report-dir build/docs-any-model-report
	$(BIN)/responses-ws docs import-report build/docs-any-model-report/report.json
	-$(BIN)/responses-ws check-client --shipped raw-websockets --report-dir build/docs-client-report
	$(BIN)/responses-ws docs import-report build/docs-client-report/report.json
	$(BIN)/responses-ws docs generate

# The site's verdicts come from a run, not a memory: run both suites against the reference
# (the server suite with both models) now and fail when the stored reports the pages are
# generated from say otherwise (verdicts, not timings). A failing check still writes its
# report, hence the ignored exit status.
docs-check: $(BIN)/.installed $(MERMAID_JS)
	$(BIN)/responses-ws docs generate --check
	rm -rf build/docs-verify build/docs-any-model-verify build/docs-client-verify
	-$(BIN)/responses-ws check --spawn-reference --report-dir build/docs-verify > /dev/null
	$(BIN)/responses-ws docs import-report --check build/docs-verify/report.json
	-$(BIN)/responses-ws check --spawn-reference $(ANY_MODEL_ARGS) \
		--report-dir build/docs-any-model-verify > /dev/null
	$(BIN)/responses-ws docs import-report --check build/docs-any-model-verify/report.json
	-$(BIN)/responses-ws check-client --shipped raw-websockets \
		--report-dir build/docs-client-verify > /dev/null
	$(BIN)/responses-ws docs import-report --check build/docs-client-verify/report.json
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs: $(BIN)/.installed $(MERMAID_JS)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

serve-docs: $(BIN)/.installed $(MERMAID_JS)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:$(DOCS_PORT)

# Headless Chromium and its driver for tests/docs (Debian packages; CI runs as root).
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; else \
		apt-get update -qq && apt-get install -y -qq chromium chromium-driver \
		|| echo "warning: chromium could not be installed; the browser test will skip"; fi

clean:
	rm -rf $(VENV) $(PEERS_VENV) $(CODEX_DIR) build dist site $(REPORT_DIR)
