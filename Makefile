# Offline jobs run from virtualenvs this Makefile creates; nothing here needs cloud credentials.
# The real workflow (pulumi preview/up) is in README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# A changed lock rebuilds the virtualenv from scratch.
STAMP := $(VENV)/.installed-$(shell sha256sum requirements-dev.lock | cut -c1-12)
# uv installs every virtualenv from its hash-pinned lock (mk/tools.mk).
UV_DIR := .venv-uv
UV := $(UV_DIR)/bin/uv
STACK ?= staging
# pytest workers: `auto` = one per CPU (PYTEST_WORKERS=0 runs in one process). Whole files per
# worker (--dist loadfile): tests of one file may share files under build/.
PYTEST_WORKERS ?= auto
.DEFAULT_GOAL := help
# Python caches compiled modules in __pycache__ (ignored by git) even where the environment sets
# PYTHONDONTWRITEBYTECODE (container images often do): a test run starts several interpreters
# over the same ~1,200 modules (pytest workers, the CLI tests, checkov), and without the cache
# each compiles them again (`python -m offline.plan staging`: 7.9 s of CPU instead of 3.6 s;
# docs/performance.md).
unexport PYTHONDONTWRITEBYTECODE

# Tool checks, the hash-pinned installs (uv), and the targets of the offline tools.
include $(sort $(wildcard mk/*.mk))

.PHONY: help venv plan test lint pytest diff import-file bench

help:
	@echo "make plan STACK=<stack>   offline plan of a stack (mock engine) -> build/<stack>/plan.json"
	@echo "make test                 prerequisites, lint + every offline test"
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

# The interpreter with pip (Pulumi's pip toolchain runs `python -m pip list` in .venv); a fresh
# clone makes it while uv itself installs (make -j2 in `make test`).
$(PY):
	@echo "==> .venv: python -m venv"
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements-dev.lock | $(UV) $(PY)
	@echo "==> .venv from requirements-dev.lock (hash-pinned, uv)"
	@if compgen -G '$(VENV)/.installed-*' >/dev/null; then \
	  echo "rm -rf $(VENV); $(PYTHON) -m venv $(VENV)  # installed from another lock"; \
	  rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	fi
	$(UV) pip install --quiet --require-hashes --python $(PY) -r requirements-dev.lock
	touch $@

venv: $(STAMP) ## create/refresh the virtualenv (.venv)

plan: $(STAMP) ## offline plan of STACK
	$(PY) -m offline.plan $(STACK) $(if $(STATE),--state $(STATE))

lint: $(STAMP) ## ruff + mypy
	@echo "==> ruff, mypy"
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy bootstrap

pytest: prereqs $(STAMP) checkov-venv node_modules/.package-lock.json ## the offline test suite only
	@echo "==> pytest ($(PYTEST_WORKERS) workers)"
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile

# The prerequisites; the installs side by side; then lint beside the suite: mypy runs on one core
# while the suite's workers start, instead of the suite waiting for it. Lint's output is held in a
# temporary file and printed after the suite's; either failing fails `make test`.
test: prereqs
	@$(MAKE) --no-print-directory -j2 --output-sync=target \
	  $(STAMP) checkov-venv node_modules/.package-lock.json
	@log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	$(MAKE) --no-print-directory lint >"$$log" 2>&1 & lint=$$!; \
	$(MAKE) --no-print-directory pytest; tests=$$?; \
	wait $$lint; linted=$$?; cat "$$log"; \
	exit $$(( tests || linted ))

BASE ?= origin/main
diff: $(STAMP) ## offline diff of STACK against git ref BASE -> build/<stack>/diff.{txt,md}
	$(PY) -m offline.diff $(STACK) --base $(BASE)

import-file: $(STAMP) ## `pulumi import --file` documents adopting STACK's resources (state lost; AFTER_DESTROY=1: what a destroy kept)
	$(PY) -m offline.import_file $(STACK) $(if $(AFTER_DESTROY),--after-destroy)


bench: prereq-kubectl $(STAMP) ## benchmarks of the offline checks (docs/performance.md)
	$(PY) -m offline.bench
