# Offline validation references (offline/refs) derived from ../shared: the only step that reads it.
.PHONY: refresh-refs check-refs

refresh-refs: $(STAMP) ## regenerate offline/refs from ../shared and git mirrors (UPSTREAM_MIRRORS=DIR)
	$(PY) scripts/refresh_offline_refs.py

check-refs: $(STAMP) ## fail if offline/refs differs from what ../shared would generate
	$(PY) scripts/refresh_offline_refs.py --check
