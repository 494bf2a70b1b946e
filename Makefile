# Offline jobs run from a virtualenv this Makefile creates; nothing here needs cloud credentials.
# The real workflow (pulumi preview/up) is in README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
STACK ?= staging
.DEFAULT_GOAL := help

# Targets of the offline tools and their extra environments (checkov, actionlint, references).
include $(sort $(wildcard mk/*.mk))

.PHONY: help venv plan test lint pytest diff import-file bench

help:
	@echo "make plan STACK=<stack>   offline plan of a stack (mock engine) -> build/<stack>/plan.json"
	@echo "make test                 lint + every offline test"
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP) ## create/refresh the virtualenv

plan: $(STAMP) ## offline plan of STACK
	$(PY) -m offline.plan $(STACK) $(if $(STATE),--state $(STATE))

lint: $(STAMP) ## ruff + mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy bootstrap

pytest: $(STAMP) checkov-venv node_modules/.package-lock.json ## the offline test suite only
	$(PY) -m pytest

test: lint pytest

BASE ?= origin/main
diff: $(STAMP) ## offline diff of STACK against git ref BASE -> build/<stack>/diff.{txt,md}
	$(PY) -m offline.diff $(STACK) --base $(BASE)

import-file: $(STAMP) ## `pulumi import --file` documents adopting STACK's resources (state lost)
	$(PY) -m offline.import_file $(STACK)


bench: $(STAMP) ## benchmarks of the offline checks (docs/performance.md)
	$(PY) -m offline.bench
