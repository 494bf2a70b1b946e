# The CrossGuard pack's rules, offline (docs/policy.md). The real run is
# `pulumi preview -s <stack> --policy-pack policy --policy-pack-config policy/config/<stack>.json`.
.PHONY: policy

policy: $(STAMP) ## policy pack rules over every stack's offline plan, and each rule broken once
	$(PY) -m pytest tests/test_policy.py
