# The GitOps tree (k8s/): offline render and security scan. Nothing here reaches a cluster.
# checkov pins old versions of common libraries, so it lives in its own virtualenv.
.PHONY: render render-all checkov checkov-venv

CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-checkov-$(CHECKOV_VERSION)
K8S_BUILD := build/k8s

$(CHECKOV_STAMP):
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	touch $@

checkov-venv: $(CHECKOV_STAMP) ## create the checkov virtualenv (.venv-checkov, checkov $(CHECKOV_VERSION))

render: $(STAMP) ## render what Flux applies on every cluster of STACK -> build/k8s/<stack>/<cluster>.yaml
	$(PY) -m offline.gitops render $(STACK) --out $(K8S_BUILD)

render-all: $(STAMP) ## render every stack -> build/k8s/
	$(PY) -m offline.gitops render --all --out $(K8S_BUILD)

checkov: $(CHECKOV_STAMP) render-all ## security scan of every rendered stack (config: k8s/.checkov.yaml)
	$(CHECKOV_VENV)/bin/checkov --config-file k8s/.checkov.yaml --directory $(K8S_BUILD)
