# Offline validation references (offline/refs) derived from ../shared and a git mirror of
# fluxcd/notification-controller: the only step that reads outside the repository.
# SHARED=DIR: the workspace's shared/ folder when it is not ../shared.
# NOTIFICATION_CONTROLLER_GIT=DIR (required): a clone or mirror of fluxcd/notification-controller,
#   e.g. `git clone --mirror https://github.com/fluxcd/notification-controller.git DIR`.
.PHONY: refresh-refs check-refs

REFRESH_REFS_ARGS = $(if $(SHARED),--shared $(SHARED)) \
	$(if $(NOTIFICATION_CONTROLLER_GIT),--notification-controller-git $(NOTIFICATION_CONTROLLER_GIT))

refresh-refs: $(STAMP) ## regenerate offline/refs (CRD schemas, chart values); NOTIFICATION_CONTROLLER_GIT=DIR [SHARED=DIR]
	$(PY) scripts/refresh_offline_refs.py $(REFRESH_REFS_ARGS)

check-refs: $(STAMP) ## fail if offline/refs differs from what the inputs would generate (same variables)
	$(PY) scripts/refresh_offline_refs.py --check $(REFRESH_REFS_ARGS)
