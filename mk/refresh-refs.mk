# Offline validation references (offline/refs) derived from ../shared and from git mirrors of the
# upstream repositories shared/ lacks, and (npm pack, the npm registry) Renovate's config schema:
# the only step that reads outside the repository.
# SHARED=DIR: the workspace's shared/ folder when it is not ../shared.
# UPSTREAM_MIRRORS=DIR (required, or in the environment): DIR/<owner>+<name>/repo, each a
#   `git clone --mirror https://github.com/<owner>/<name>.git` (the script names the ones it needs).
.PHONY: refresh-refs check-refs

REFRESH_REFS_ARGS = $(if $(SHARED),--shared $(SHARED)) \
	$(if $(UPSTREAM_MIRRORS),--mirrors $(UPSTREAM_MIRRORS))

refresh-refs: $(STAMP) ## regenerate offline/refs (CRD schemas, chart values); UPSTREAM_MIRRORS=DIR [SHARED=DIR]
	$(PY) scripts/refresh_offline_refs.py $(REFRESH_REFS_ARGS)

check-refs: $(STAMP) ## fail if offline/refs differs from what the inputs would generate (same variables)
	$(PY) scripts/refresh_offline_refs.py --check $(REFRESH_REFS_ARGS)
