"""When zones may (re)connect to the global: the zone-sync (KDS) Service and what gates it.

A zone control plane, on the first KDS response of each resource type after it connects, deletes
every global-originated resource of that type that the global did not send (kumahq/kuma v2.13.10
pkg/kds/v2/store/sync.go `Sync`, `IsInitialRequest`: "we want to make stores synced"), and the
global sends every type on connect, empty or not (pkg/kds/v2/client/kds_client.go: "the server
sends empty DeltaDiscoveryResponse for every resource type"). A zone that reaches a rebuilt,
still empty global therefore deletes its Mesh, the mesh CA's Secrets and every policy.

So nothing may reach the global's KDS port before the global holds what the zones keep:
- the program's part (the Mesh, its CA Secrets, the baseline MeshTrafficPermission): the
  ResourceSet below is created by the program only after them (depends_on);
- Flux's part (k8s/mesh: permissions, routes, the MeshGateway, timeouts...): the ResourceSet
  applies the Service only once the Flux Kustomization `mesh-policies` is Ready
  (flux-operator v0.58.1 internal/controller/resourceset_controller.go `checkDependencies`:
  until then it requeues every 5 s (`--requeue-dependency`) and applies nothing). With
  `wait: true` that Kustomization is Ready only when everything it applied is.

The chart's own zone-sync Service is switched off (values.py); the program writes the same
Service (name, selector, port, address, source ranges, annotations) into the ResourceSet, which
flux-operator applies: the program owns the ResourceSet, flux-operator the Service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from components.facts import FLUX_NAMESPACE
from components.kuma.settings import (
    GLOBAL_ACCESS,
    INTERNAL_LB,
    KDS_PORT,
    KUMA_NAMESPACE,
    ZONE_SYNC_SERVICE,
)

# The ResourceSet that applies the zone-sync Service, and the Flux Kustomization it waits for
# (k8s/flux/global/mesh-policies.yaml; tests/test_mesh_rebuild.py checks the tree has it).
ZONE_SYNC_GATE: Final = "kuma-zone-sync"
MESH_POLICIES_KUSTOMIZATION: Final = "mesh-policies"

# The global control plane's pods, as the chart's zone-sync Service selects them (kumahq/kuma
# v2.13.10 deployments/charts/kuma/templates/cp-global-sync-service.yaml with release `kuma`).
CONTROL_PLANE_SELECTOR: Final = {
    "app": "kuma-control-plane",
    "app.kubernetes.io/name": "kuma",
    "app.kubernetes.io/instance": "kuma",
}


def zone_sync_service(
    address: str, *, cross_region: bool, source_ranges: Sequence[str]
) -> dict[str, Any]:
    """The Service the chart would render with our values: an internal passthrough load balancer
    at the reserved address, reachable only from the zones' pod ranges, gRPC on the KDS port."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": ZONE_SYNC_SERVICE,
            "namespace": KUMA_NAMESPACE,
            "labels": {"app": "kuma-control-plane"},
            "annotations": {**INTERNAL_LB, **(GLOBAL_ACCESS if cross_region else {})},
        },
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerIP": address,
            "loadBalancerSourceRanges": list(source_ranges),
            "ports": [
                {
                    "name": "global-zone-sync",
                    "port": KDS_PORT,
                    "targetPort": KDS_PORT,
                    "appProtocol": "grpc",
                    "protocol": "TCP",
                }
            ],
            "selector": dict(CONTROL_PLANE_SELECTOR),
        },
    }


def zone_sync_gate_spec(
    service: Mapping[str, Any], eso_mesh_secrets: Sequence[str]
) -> dict[str, Any]:
    """The ResourceSet spec: no inputs (the resource is rendered once, as given: flux-operator
    v0.58.1 internal/builder/resourceset.go `BuildResourceSet`), applied only while the mesh
    policies are Ready and once the Kuma Secrets External Secrets writes on the global (the
    gateway's certificate) exist: a dependency without `ready` must only exist
    (`checkDependencies`)."""
    return {
        "dependsOn": [
            {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "name": MESH_POLICIES_KUSTOMIZATION,
                "namespace": FLUX_NAMESPACE,
                "ready": True,
            },
            *(
                {"apiVersion": "v1", "kind": "Secret", "name": s, "namespace": KUMA_NAMESPACE}
                for s in eso_mesh_secrets
            ),
        ],
        "wait": True,
        "resources": [dict(service)],
    }
