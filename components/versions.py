"""Every pinned version the program installs, in one place.

Renovate's custom managers (renovate.json) match the `# renovate:` comments below, so a version
bump is one line here plus a refresh of the committed references (`make refresh-refs`).
"""

from dataclasses import dataclass
from typing import Final

# The Kubernetes minor the clusters run and everything is checked against: Pod Security's
# `enforce-version` (components/kubernetes.py) and the built-in schemas offline
# (offline/k8s_validation.py). GKE's Stable and Regular channels serve 1.34 in late 2026 (Rapid is
# ahead): the newest minor every channel a cluster of ours may be enrolled in provides. Bump it
# with the clusters' minor (a newer API server still evaluates an older enforce-version).
KUBERNETES_MINOR: Final = "1.34"

# renovate: datasource=helm depName=kuma registryUrl=https://kumahq.github.io/charts
KUMA_CHART_VERSION: Final = "2.13.10"
KUMA_CHART_REPO: Final = "https://kumahq.github.io/charts"

# renovate: datasource=helm depName=external-secrets registryUrl=https://charts.external-secrets.io
EXTERNAL_SECRETS_CHART_VERSION: Final = "2.9.0"
EXTERNAL_SECRETS_CHART_REPO: Final = "https://charts.external-secrets.io"

# renovate: datasource=docker depName=ghcr.io/controlplaneio-fluxcd/charts/flux-operator
FLUX_OPERATOR_CHART_VERSION: Final = "0.58.1"
FLUX_OPERATOR_CHART_OCI: Final = "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator"

# FluxInstance distribution: a semver range the operator resolves to the newest 2.9 patch.
# renovate: datasource=github-releases depName=fluxcd/flux2 extractVersion=^v(?<version>\d+\.\d+)\.\d+$
FLUX_DISTRIBUTION_VERSION: Final = "2.9.x"
FLUX_DISTRIBUTION_REGISTRY: Final = "ghcr.io/fluxcd"


@dataclass(frozen=True)
class ChartRef:
    """Where a Helm chart comes from and which version: the one way a component names a chart.
    `repo` is None for an OCI chart (`name` is then its oci:// reference)."""

    name: str
    version: str
    repo: str | None = None


KUMA_CHART = ChartRef("kuma", KUMA_CHART_VERSION, KUMA_CHART_REPO)
EXTERNAL_SECRETS_CHART = ChartRef(
    "external-secrets", EXTERNAL_SECRETS_CHART_VERSION, EXTERNAL_SECRETS_CHART_REPO
)
FLUX_OPERATOR_CHART = ChartRef(FLUX_OPERATOR_CHART_OCI, FLUX_OPERATOR_CHART_VERSION)
