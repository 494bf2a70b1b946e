# The CrossGuard pack's rules, offline (docs/policy.md). The real run is
# `pulumi preview -s <stack> --policy-pack policy --policy-pack-config build/<stack>/policy-config.json`.
.PHONY: policy policy-config policy-venv

POLICY_VENV := policy/.venv
POLICY_STAMP := $(POLICY_VENV)/.installed-$(shell sha256sum policy/requirements.lock | cut -c1-12)

# The pack's own virtualenv (policy/PulumiPolicy.yaml), created before `pulumi preview` runs: the
# CLI installs requirements only into a virtualenv that does not exist yet (docs/ci.md).
$(POLICY_STAMP): policy/requirements.lock | $(UV)
	@echo "==> policy/.venv from policy/requirements.lock (hash-pinned, uv)"
	rm -rf $(POLICY_VENV)
	$(PYTHON) -m venv $(POLICY_VENV)
	$(UV) pip install --quiet --require-hashes --python $(POLICY_VENV)/bin/python \
	  -r policy/requirements.lock
	touch $@

policy-venv: $(POLICY_STAMP) ## the policy pack's virtualenv (policy/.venv) for pulumi preview/up

policy: $(STAMP) ## policy pack rules over every stack's offline plan, and each rule broken once
	$(PY) -m pytest tests/test_policy.py tests/test_policy_shapes.py

policy-config: $(STAMP) ## the --policy-pack-config file of STACK, from its stack file -> build/<stack>/policy-config.json
	$(PY) -m policy.stack_config $(STACK)
