"""The Kuma multi-zone mesh: global control plane, zone control planes, KDS TLS and the Mesh.

Every Kuma detail of the program lives in this package (one job per module), so the move to
Kuma 3 (no Kubernetes global CP, no Mesh.mtls / routing.zoneEgress, no standalone
ZoneIngress/ZoneEgress) is one change here. What the offline checks know of Kuma's behaviour is
offline/kuma_rules.py.
"""

from components.kuma.gateway import GatewayZone, MeshGateway, MeshGatewayArgs
from components.kuma.multizone import GlobalPlane, KumaMultiZone, KumaMultiZoneArgs, ZonePlane
from components.kuma.settings import GATEWAY_TLS_SECRET, KDS_PORT, KUMA_NAMESPACE, MESH_NAME

__all__ = [
    "GATEWAY_TLS_SECRET",
    "KDS_PORT",
    "KUMA_NAMESPACE",
    "MESH_NAME",
    "GatewayZone",
    "GlobalPlane",
    "KumaMultiZone",
    "KumaMultiZoneArgs",
    "MeshGateway",
    "MeshGatewayArgs",
    "ZonePlane",
]
