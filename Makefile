# Both entry points set up everything themselves on a fresh Debian machine
# (as root): apt packages, the virtualenv in .venv, the project in editable mode.
# A second run finds the stamps and skips straight to the work.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
APT_PACKAGES := containernetworking-plugins iproute2 iputils-ping nftables iptables util-linux shellcheck chromium \
  containerd runc busybox-static
APT_STAMP := $(VENV)/.apt-stamp
PIP_STAMP := $(VENV)/.pip-stamp

.PHONY: all setup run test lint types contracts unit integration scenarios clean fuzz workflows mutants

all: test

$(APT_STAMP): Makefile
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing apt packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@mkdir -p $(VENV) && touch $@

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(PIP_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m harness.backends.local.containerd.proto
	@touch $@

setup: $(APT_STAMP) $(PIP_STAMP)

## make run: the conformance scenarios on the embedded local backend, as a table, and the
## reports in reports/ (report.html, junit.xml, summary.md, results.json for `harness coverage`).
## Nodes run a real containerd (the CNI caller of a kind node): 1.3-2.1x (median 1.7x)
## the simulated runtime's time here (benchmarks/README.md); RUNTIME=simulated for the other.
RUNTIME ?= containerd
run: setup
	$(BIN)/harness run scenarios/ --runtime $(RUNTIME) --html reports/report.html --junit-xml reports/junit.xml \
	  --markdown reports/summary.md --results-json reports/results.json

## make test: linters, types, layering contracts, unit tests, then (as root)
## integration tests and the scenarios as pytest items.
test: setup lint types contracts workflows
	$(BIN)/python -m pytest tests scenarios
	$(BIN)/python -m pytest -q scenarios --mode thick -k "thick or quickstart or install"
	$(BIN)/python -m pytest -q scenarios --runtime containerd

## make mutants [MUTANT_JOBS=2]: the scenario suite against every mutant of pymultus
## (docs/mutants.md), thin mode, with an unmodified control run; prints caught N/M and
## the survivors and fails if any survives; verdicts in reports/mutants.json.
MUTANT_JOBS ?= 2
mutants: setup
	$(BIN)/harness mutants run scenarios/ --jobs $(MUTANT_JOBS) --report reports/mutants.json

lint: setup
	$(BIN)/ruff check pymultus harness tests conftest.py ci
	$(BIN)/ruff format --check pymultus harness tests conftest.py ci

## make workflows: actionlint (with shellcheck) on every GitHub Actions workflow.
workflows: setup
	$(BIN)/actionlint -no-color .github/workflows/*.yml

types: setup
	$(BIN)/mypy

contracts: setup
	$(BIN)/lint-imports

unit: setup
	$(BIN)/python -m pytest tests/unit

## make fuzz [FUZZ_SECONDS=600]: coverage-guided fuzzing of the CNI entry (atheris).
## New inputs go to .fuzz/corpus, crashes to .fuzz/ (keep them in tests/fuzz/regressions/).
FUZZ_SECONDS ?= 600
fuzz: setup
	@mkdir -p .fuzz/corpus
	rm -rf .fuzz/sandbox
	PYMULTUS_FUZZ_SANDBOX=.fuzz/sandbox $(BIN)/python tests/fuzz/fuzz_entry.py .fuzz/corpus tests/fuzz/corpus \
	  -max_total_time=$(FUZZ_SECONDS) -timeout=20 -artifact_prefix=.fuzz/ -print_final_stats=1

clean:
	rm -rf $(VENV) build dist *.egg-info
