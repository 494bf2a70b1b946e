# Day 0 (docs/bootstrap.md): the offline plan of the bootstrap program (bootstrap/) for STACK.
.PHONY: plan-bootstrap

plan-bootstrap: $(STAMP) ## offline plan of the day-0 bootstrap of STACK -> build/bootstrap/<stack>/plan.json
	$(PY) -m offline.plan $(STACK) --project-dir bootstrap
