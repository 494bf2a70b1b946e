# The GitOps tree (k8s/): offline render and security scan. Nothing here reaches a cluster.
# checkov pins old versions of common libraries, so it lives in its own virtualenv.
.PHONY: render render-all checkov checkov-venv

CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell sha256sum requirements-checkov.lock | cut -c1-12)
K8S_BUILD := build/k8s

# checkov needs no pip of its own: a bare uv virtualenv.
$(CHECKOV_STAMP): requirements-checkov.lock | $(UV)
	@echo "==> .venv-checkov from requirements-checkov.lock (hash-pinned, uv)"
	rm -rf $(CHECKOV_VENV)
	$(UV) venv --quiet --python $(PYTHON) $(CHECKOV_VENV)
	$(UV) pip install --quiet --require-hashes --python $(CHECKOV_VENV)/bin/python \
	  -r requirements-checkov.lock
	touch $@

checkov-venv: $(CHECKOV_STAMP) ## create the checkov virtualenv (.venv-checkov, requirements-checkov.txt)

render: prereq-kubectl $(STAMP) ## render what Flux applies on every cluster of STACK -> build/k8s/<stack>/<cluster>.yaml
	$(PY) -m offline.gitops render $(STACK) --out $(K8S_BUILD)

render-all: prereq-kubectl $(STAMP) ## render every stack -> build/k8s/
	$(PY) -m offline.gitops render --all --out $(K8S_BUILD)

checkov: prereq-kubectl $(CHECKOV_STAMP) render-all ## security scan of every rendered stack (config: k8s/.checkov.yaml)
	$(CHECKOV_VENV)/bin/checkov --config-file k8s/.checkov.yaml --directory $(K8S_BUILD)
