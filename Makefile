# Both entry points set up everything themselves on a fresh Debian machine
# (as root): apt packages, the virtualenv in .venv, the project in editable mode.
# A second run finds the stamps and skips straight to the work.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
APT_PACKAGES := containernetworking-plugins iproute2 iputils-ping nftables iptables util-linux
APT_STAMP := $(VENV)/.apt-stamp
PIP_STAMP := $(VENV)/.pip-stamp

.PHONY: all setup run test lint types contracts unit integration scenarios clean

all: test

$(APT_STAMP):
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
	@touch $@

setup: $(APT_STAMP) $(PIP_STAMP)

## make run: the conformance scenarios on the embedded local backend, as a table.
run: setup
	$(BIN)/harness run scenarios/

## make test: linters, types, layering contracts, unit tests, then (as root)
## integration tests and the scenarios as pytest items.
test: setup lint types contracts
	$(BIN)/python -m pytest tests scenarios

lint: setup
	$(BIN)/ruff check pymultus harness tests conftest.py
	$(BIN)/ruff format --check pymultus harness tests conftest.py

types: setup
	$(BIN)/mypy

contracts: setup
	$(BIN)/lint-imports

unit: setup
	$(BIN)/python -m pytest tests/unit

clean:
	rm -rf $(VENV) build dist *.egg-info
