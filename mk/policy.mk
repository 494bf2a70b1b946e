# The CrossGuard pack's rules, offline (docs/policy.md). The real run is
# `pulumi preview -s <stack> --policy-pack policy --policy-pack-config build/<stack>/policy-config.json`.
.PHONY: policy policy-config

policy: $(STAMP) ## policy pack rules over every stack's offline plan, and each rule broken once
	$(PY) -m pytest tests/test_policy.py tests/test_policy_shapes.py

policy-config: $(STAMP) ## the --policy-pack-config file of STACK, from its stack file -> build/<stack>/policy-config.json
	$(PY) -m policy.stack_config $(STACK)
