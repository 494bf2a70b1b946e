"""Name derivations shared by components, so every component spells a derived name the same way."""

import hashlib

SERVICE_ACCOUNT_ID_MAX = 30


def service_account_id(*parts: str) -> str:
    """A GCP service-account id (6-30 chars) from readable parts. Too long, the leading parts are
    cut and a stable hash added; the last part (what the account is for) is always kept."""
    candidate = "-".join(parts)
    if len(candidate) <= SERVICE_ACCOUNT_ID_MAX:
        return candidate
    *head, purpose = parts
    digest = hashlib.sha256(candidate.encode()).hexdigest()[:6]
    room = SERVICE_ACCOUNT_ID_MAX - len(purpose) - len(digest) - 2
    return f"{'-'.join(head)[:room].rstrip('-')}-{digest}-{purpose}"


def tenant_reconciler(namespace: str) -> str:
    """The Flux Kustomization of a tenant (k8s/flux/zone) and the flux-system service account it
    impersonates: the same name."""
    return f"apps-{namespace}"


KUBERNETES_PROVIDER_SUFFIX = "-k8s"


def kubernetes_provider_name(cluster: str) -> str:
    return f"{cluster}{KUBERNETES_PROVIDER_SUFFIX}"


def cluster_of_provider(provider_name: str) -> str:
    """The cluster a Kubernetes provider (named by kubernetes_provider_name) deploys to."""
    return provider_name.removesuffix(KUBERNETES_PROVIDER_SUFFIX)


def pods_range_name(cluster: str) -> str:
    return f"{cluster}-pods"


def services_range_name(cluster: str) -> str:
    return f"{cluster}-services"


def workload_pool(project: str) -> str:
    """The project's Workload Identity pool; every GKE cluster of the project shares it."""
    return f"{project}.svc.id.goog"


# -- Compute Engine names derived from the config (validated against GCP's limits before planning)
def webhook_firewall_name(cluster: str) -> str:
    return f"{cluster}-control-plane-webhooks"


def nat_router_name(network: str, region: str) -> str:
    """The Cloud Router and its NAT gateway of one region share this name."""
    return f"{network}-{region}"


def kds_address_name(global_cluster: str) -> str:
    return f"{global_cluster}-kuma-kds"


def gateway_address_name(zone_cluster: str) -> str:
    return f"{zone_cluster}-mesh-gateway"
