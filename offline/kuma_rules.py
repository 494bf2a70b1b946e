"""What Kuma 2.13 accepts and how it decides, in one place: the Mesh spec (its CRD has no schema),
the admission rules of the targetRef policies (their CRDs accept what Kuma's webhook refuses), and
how a targetRef selects proxies and which of several matching policies wins.

The program's side of Kuma (Helm values, the Mesh it creates) is components/kuma/; this module is
what the offline checks know about Kuma's behaviour, with the upstream source of each rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator

from offline.k8s_validation import describe, schema_errors

KUMA_GROUP = "kuma.io"


# -- the Mesh ------------------------------------------------------------------------------------

# The Mesh CRD (kuma.io_meshes.yaml, Kuma 2.13.10) declares `spec` with
# x-kubernetes-preserve-unknown-fields and no schema: Kuma stores the Mesh proto message
# (api/mesh/v1alpha1/mesh.proto, JSON field names) in `spec`, and the API server checks nothing.
# Allowed top-level keys (apiVersion, kind, mesh, metadata, spec) come from that CRD and are
# enforced by the committed schema; this schema checks `spec`.
# Field list: kumahq/kuma api/mesh/v1alpha1/mesh.proto as rendered into
# api/mesh/v1alpha1/mesh/rest.yaml (2.x line: mtls incl. skipValidation, routing incl.
# defaultForbidMeshExternalServiceAccess, meshServices.mode) and
# docs/generated/resources/other_mesh.md. Durations are protobuf JSON strings ("10s").
# Kuma 3.0 removes mtls, routing.zoneEgress, routing.defaultForbidMeshExternalServiceAccess and
# skipCreatingInitialPolicies (docs/architecture.md, "Kuma 3").
_STR: dict[str, Any] = {"type": "string"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_OBJ: dict[str, Any] = {"type": "object"}  # backend `conf` blocks: free-form per backend type


def _closed(props: dict[str, Any], required: Sequence[str] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


def _backends(extra: dict[str, Any], required: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "array",
        "items": _closed({"name": _STR, "type": _STR, "conf": _OBJ, **extra}, required),
    }


_TAG_RULES: dict[str, Any] = {
    "type": "array",
    "items": _closed({"tags": {"type": "object", "additionalProperties": _STR}}),
}

MESH_SPEC_SCHEMA: dict[str, Any] = _closed(
    {
        "mtls": _closed(
            {
                "enabledBackend": _STR,
                "skipValidation": _BOOL,
                "backends": {
                    "type": "array",
                    "items": _closed(
                        {
                            "name": _STR,
                            # Kuma OSS ships these two CA plugins (vault, acmpca, certmanager
                            # are Kong Mesh only).
                            "type": {"enum": ["builtin", "provided"]},
                            "dpCert": _closed(
                                {"rotation": _closed({"expiration": _STR}), "requestTimeout": _STR}
                            ),
                            "conf": _OBJ,
                            "mode": {"enum": ["STRICT", "PERMISSIVE"]},
                            "rootChain": _closed({"requestTimeout": _STR}),
                        },
                        required=("name", "type"),
                    ),
                },
            }
        ),
        "tracing": _closed(
            {
                "defaultBackend": _STR,
                "backends": _backends({"sampling": {"type": "number"}}, ("name", "type")),
            }
        ),
        "logging": _closed(
            {"defaultBackend": _STR, "backends": _backends({"format": _STR}, ("name", "type"))}
        ),
        "metrics": _closed({"enabledBackend": _STR, "backends": _backends({}, ("name", "type"))}),
        "networking": _closed({"outbound": _closed({"passthrough": _BOOL})}),
        "routing": _closed(
            {
                "zoneEgress": _BOOL,
                "localityAwareLoadBalancing": _BOOL,
                "defaultForbidMeshExternalServiceAccess": _BOOL,
            }
        ),
        "constraints": _closed(
            {"dataplaneProxy": _closed({"requirements": _TAG_RULES, "restrictions": _TAG_RULES})}
        ),
        "skipCreatingInitialPolicies": {"type": "array", "items": _STR},
        "meshServices": _closed(
            {"mode": {"enum": ["Disabled", "Everywhere", "ReachableBackends", "Exclusive"]}}
        ),
    }
)


@cache
def _mesh_validator() -> Validator:
    return Draft202012Validator(MESH_SPEC_SCHEMA)


def _names(section: Any) -> list[str]:
    if not isinstance(section, Mapping) or not isinstance(section.get("backends"), list):
        return []
    backends = [b for b in section["backends"] if isinstance(b, Mapping)]
    return [b["name"] for b in backends if isinstance(b.get("name"), str)]


def _check_mesh_spec(prefix: str, spec: Any) -> list[str]:
    if spec is None:
        return []
    errors = schema_errors(prefix, _mesh_validator(), spec, base=("spec",))
    if not isinstance(spec, Mapping):
        return errors
    for section, pointer in (
        ("mtls", "enabledBackend"),
        ("tracing", "defaultBackend"),
        ("logging", "defaultBackend"),
        ("metrics", "enabledBackend"),
    ):
        block = spec.get(section)
        if not isinstance(block, Mapping):
            continue
        names = _names(block)
        dupes = sorted({n for n in names if names.count(n) > 1})
        for name in dupes:
            errors.append(f"{prefix}: spec.{section}.backends: duplicate backend name {name!r}")
        chosen = block.get(pointer)
        if isinstance(chosen, str) and chosen not in names:
            errors.append(
                f"{prefix}: spec.{section}.{pointer}: {chosen!r} names no entry of"
                f" spec.{section}.backends ({', '.join(names) or 'none'})"
            )
    routing = spec.get("routing")
    if isinstance(routing, Mapping) and routing.get("zoneEgress") is True:
        mtls = spec.get("mtls")
        enabled = mtls.get("enabledBackend") if isinstance(mtls, Mapping) else None
        if not enabled or enabled not in _names(mtls):
            errors.append(
                f"{prefix}: spec.routing.zoneEgress: true requires spec.mtls.enabledBackend"
                " naming one of spec.mtls.backends[].name (Kuma rejects the Mesh otherwise)"
            )
    return errors


# -- the MeshGateway -------------------------------------------------------------------------------

# Its CRD, too, leaves `spec` open (kuma.io_meshgateways.yaml): the proto message
# api/mesh/v1alpha1/gateway.proto in JSON names, and the rules of
# pkg/core/resources/apis/mesh/gateway_validator.go (Kuma v2.13.10).
_TAGS: dict[str, Any] = {"type": "object", "additionalProperties": _STR}
_DATA_SOURCE: dict[str, Any] = {
    **_closed({"secret": _STR, "file": _STR, "inline": _STR, "inlineString": _STR}),
    "minProperties": 1,
    "maxProperties": 1,
}
MESH_GATEWAY_SPEC_SCHEMA: dict[str, Any] = _closed(
    {
        "selectors": {
            "type": "array",
            "minItems": 1,
            "items": _closed({"match": {**_TAGS, "minProperties": 1}}, required=("match",)),
        },
        "tags": _TAGS,
        "conf": _closed(
            {
                "listeners": {
                    "type": "array",
                    "minItems": 1,
                    "items": _closed(
                        {
                            "hostname": _STR,
                            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                            "protocol": {"enum": ["TCP", "TLS", "HTTP", "HTTPS"]},
                            "tls": _closed(
                                {
                                    "mode": {"enum": ["TERMINATE", "PASSTHROUGH"]},
                                    "certificates": {"type": "array", "items": _DATA_SOURCE},
                                    "options": _closed({}),
                                }
                            ),
                            "tags": _TAGS,
                            "crossMesh": _BOOL,
                            "resources": _closed({"connectionLimit": {"type": "integer"}}),
                        },
                        required=("port", "protocol"),
                    ),
                }
            },
            required=("listeners",),
        ),
    },
    required=("selectors", "conf"),
)
# Tags a gateway may not set on itself or its listeners: they are the data plane's own.
_RESERVED_TAGS = (
    "kuma.io/service",
    "kuma.io/protocol",
    "kuma.io/zone",
    "kuma.io/external-service-name",
)


@cache
def _gateway_validator() -> Validator:
    return Draft202012Validator(MESH_GATEWAY_SPEC_SCHEMA)


def _listener_problems(at: str, listener: Mapping[str, Any]) -> list[str]:
    errors: list[str] = []
    tls = listener.get("tls")
    cross_mesh = listener.get("crossMesh") is True
    if listener["protocol"] == "HTTPS" and not cross_mesh:
        if tls is None:
            errors.append(f"{at}.tls: cannot be empty with protocol HTTPS")
        elif tls.get("mode") == "PASSTHROUGH":
            errors.append(f"{at}.tls.mode: PASSTHROUGH is not supported on HTTPS listeners")
    if tls is not None and not cross_mesh:
        if "mode" not in tls:
            errors.append(f"{at}.tls.mode: cannot be empty")
        elif tls["mode"] == "TERMINATE" and not 1 <= len(tls.get("certificates") or []) <= 2:
            errors.append(f"{at}.tls.certificates: TERMINATE takes one or two certificates")
    errors += [
        f"{at}.tags: {key} must not be set on a listener"
        for key in _RESERVED_TAGS
        if key in (listener.get("tags") or {})
    ]
    return errors


def _check_gateway_spec(prefix: str, spec: Any) -> list[str]:
    errors = schema_errors(prefix, _gateway_validator(), spec, base=("spec",))
    if errors or not isinstance(spec, Mapping):
        return errors
    for key in _RESERVED_TAGS:
        if key in (spec.get("tags") or {}):
            errors.append(f"{prefix}: spec.tags: {key} must not be set on a gateway")
    if not any("kuma.io/service" in s["match"] for s in spec["selectors"]):
        errors.append(f"{prefix}: spec.selectors: every selector needs a kuma.io/service tag")
    for index, listener in enumerate(spec["conf"]["listeners"]):
        errors += _listener_problems(f"{prefix}: spec.conf.listeners[{index}]", listener)
    return errors


# -- targetRef policies ----------------------------------------------------------------------------

# The policy CRDs accept every targetRef kind everywhere; Kuma's admission webhook then runs each
# policy's Go validator. What it enforces for the policies this repository uses is encoded below,
# for the "system" policy role (policies in the Kuma system namespace, where ours live), from
# kumahq/kuma (2.x line, module path github.com/kumahq/kuma, before the 3.0 `/v3` rewrite):
#   pkg/plugins/policies/<policy>/api/v1alpha1/validator.go
#   api/common/v1alpha1/targetref.go (IncludesGateways)
# Version notes (Kuma 2.13): `rules` exists for MeshTimeout/MeshCircuitBreaker/MeshRateLimit
# (2.10), MeshTrafficPermission and MeshFaultInjection (2.13); `from` is deprecated in 2.14 and
# removed in 3.0 (docs/architecture.md, "Kuma 3").

_TOP_KINDS = frozenset(
    {"Mesh", "MeshSubset", "MeshGateway", "MeshService", "MeshServiceSubset", "Dataplane"}
)
_OUTBOUND_KINDS = frozenset({"Mesh", "MeshService", "MeshExternalService", "MeshMultiZoneService"})
_NONE: frozenset[str] = frozenset()


class _Inbound:
    """When a policy's inbound sections (`rules`, `from`) are rejected."""

    NEVER = "never"
    GATEWAY_KINDS = "gateway-kinds"  # top-level kind MeshGateway or MeshHTTPRoute
    INCLUDES_GATEWAYS = "includes-gateways"  # common_api.IncludesGateways(top-level targetRef)


@dataclass(frozen=True)
class KumaPolicyRules:
    """What Kuma's validator accepts for one policy kind. An empty kind set: the section does not
    exist for that policy (the committed CRD schema reports it as unknown)."""

    top: frozenset[str]
    to: frozenset[str]
    from_: frozenset[str]
    inbound_rejected: str = _Inbound.NEVER
    to_only_with_gateways: bool = False  # `to` only when the top-level target includes gateways
    # The `to` kinds when the top-level target is a MeshGateway or MeshHTTPRoute (None: `to`).
    to_under_gateway: frozenset[str] | None = None
    needs: tuple[str, ...] = ()  # at least one of these sections must be set
    default_needs: tuple[str, ...] = ()  # each `to` entry's default sets at least one of these
    source: str = ""


KUMA_POLICY_RULES: dict[str, KumaPolicyRules] = {
    # Telemetry policies (k8s/mesh/observability). validateTop with the system policy role (the
    # policies live in the Kuma system namespace): Mesh, MeshSubset, MeshService,
    # MeshServiceSubset, MeshGateway, Dataplane; no to/from/rules sections in their CRDs.
    "MeshMetric": KumaPolicyRules(
        top=_TOP_KINDS, to=_NONE, from_=_NONE, source="meshmetric/api/v1alpha1/validator.go"
    ),
    "MeshTrace": KumaPolicyRules(
        top=_TOP_KINDS, to=_NONE, from_=_NONE, source="meshtrace/api/v1alpha1/validator.go"
    ),
    # validateFrom: kind Mesh only; validateTo (top-level kind not MeshGateway): Mesh,
    # MeshService, MeshExternalService, MeshMultiZoneService, MeshHTTPRoute; "at least one of
    # 'from', 'to' or 'rules' has to be defined".
    "MeshAccessLog": KumaPolicyRules(
        top=_TOP_KINDS,
        to=_OUTBOUND_KINDS | {"MeshHTTPRoute"},
        from_=frozenset({"Mesh"}),
        needs=("to", "from", "rules"),
        source="meshaccesslog/api/v1alpha1/validator.go",
    ),
    # validateTo: to-kinds Mesh, MeshService, MeshExternalService, MeshMultiZoneService,
    # MeshHTTPRoute (under a MeshGateway/MeshHTTPRoute target: Mesh, MeshExternalService);
    # validateFrom: kind Mesh only, and no `from` under a MeshGateway/MeshHTTPRoute.
    "MeshTimeout": KumaPolicyRules(
        top=_TOP_KINDS | {"MeshHTTPRoute"},
        to=_OUTBOUND_KINDS | {"MeshHTTPRoute"},
        from_=frozenset({"Mesh"}),
        inbound_rejected=_Inbound.GATEWAY_KINDS,
        to_under_gateway=frozenset({"Mesh", "MeshExternalService"}),
        needs=("to", "from", "rules"),
        source="meshtimeout/api/v1alpha1/validator.go",
    ),
    # Outbound only: `to` needs at least one item; under a MeshGateway/MeshHTTPRoute target the
    # to-kinds are Mesh and MeshExternalService.
    "MeshRetry": KumaPolicyRules(
        top=_TOP_KINDS | {"MeshHTTPRoute"},
        to=_OUTBOUND_KINDS | {"MeshHTTPRoute"},
        from_=_NONE,
        to_under_gateway=frozenset({"Mesh", "MeshExternalService"}),
        needs=("to",),
        source="meshretry/api/v1alpha1/validator.go",
    ),
    "MeshCircuitBreaker": KumaPolicyRules(
        top=_TOP_KINDS,
        to=_OUTBOUND_KINDS,
        from_=frozenset({"Mesh"}),
        needs=("to", "from", "rules"),
        source="meshcircuitbreaker/api/v1alpha1/validator.go",
    ),
    # validateRules/validateFrom: MustNotBeDefined "when the scope includes a Gateway, select only
    # proxyType Sidecar or select only gateways and use spec.to"; validateTo: MustNotBeDefined
    # unless IncludesGateways; to/from kinds: Mesh only.
    "MeshRateLimit": KumaPolicyRules(
        top=_TOP_KINDS | {"MeshHTTPRoute"},
        to=frozenset({"Mesh"}),
        from_=frozenset({"Mesh"}),
        inbound_rejected=_Inbound.INCLUDES_GATEWAYS,
        to_only_with_gateways=True,
        source="meshratelimit/api/v1alpha1/validator.go",
    ),
    # No gateway restriction; from-kinds Mesh, MeshSubset, MeshService, MeshServiceSubset;
    # "at least one of 'from' or 'rules' has to be defined".
    "MeshTrafficPermission": KumaPolicyRules(
        top=frozenset({"Mesh", "MeshSubset", "MeshService", "MeshServiceSubset", "Dataplane"}),
        to=_NONE,
        from_=frozenset({"Mesh", "MeshSubset", "MeshService", "MeshServiceSubset"}),
        needs=("from", "rules"),
        source="meshtrafficpermission/api/v1alpha1/validator.go",
    ),
    # Outbound only; to-kinds Mesh, MeshService, MeshMultiZoneService; validateDefault: "must
    # have at least one defined: http, tcp, grpc". No `to` at all is accepted (and does nothing).
    "MeshHealthCheck": KumaPolicyRules(
        top=_TOP_KINDS,
        to=frozenset({"Mesh", "MeshService", "MeshMultiZoneService"}),
        from_=_NONE,
        default_needs=("http", "tcp", "grpc"),
        source="meshhealthcheck/api/v1alpha1/validator.go",
    ),
    # Outbound only, `to` needs at least one item; to-kinds narrower under a MeshGateway target
    # (modelled as the wider set).
    "MeshLoadBalancingStrategy": KumaPolicyRules(
        top=_TOP_KINDS,
        to=frozenset({"Mesh", "MeshService", "MeshMultiZoneService", "MeshHTTPRoute"}),
        from_=_NONE,
        needs=("to",),
        source="meshloadbalancingstrategy/api/v1alpha1/validator.go",
    ),
    # validateFrom: MustNotBeDefined if IncludesGateways; validateTo: MustNotBeDefined unless
    # IncludesGateways, to-kind Mesh only (a sidecar gets faults on its inbound, through `from`).
    "MeshFaultInjection": KumaPolicyRules(
        top=_TOP_KINDS,
        to=frozenset({"Mesh"}),
        from_=frozenset({"Mesh", "MeshSubset", "MeshService", "MeshServiceSubset"}),
        inbound_rejected=_Inbound.INCLUDES_GATEWAYS,
        to_only_with_gateways=True,
        source="meshfaultinjection/api/v1alpha1/validator.go",
    ),
}


def includes_gateways(target: Mapping[str, Any]) -> bool:
    """common_api.IncludesGateways: a Mesh/MeshSubset target whose proxyTypes is empty or lists
    Gateway, or a MeshHTTPRoute; a MeshGateway target is a gateway by definition."""
    kind = target.get("kind")
    proxy_types = target.get("proxyTypes") or []
    if kind in ("Mesh", "MeshSubset"):
        return not proxy_types or "Gateway" in proxy_types
    return kind in ("MeshHTTPRoute", "MeshGateway")


# Fields a targetRef of a kind may not carry (mesh.ValidateTargetRef).
_REF_FORBIDDEN: dict[str, tuple[str, ...]] = {
    "Mesh": ("name", "tags", "labels"),
    "MeshSubset": ("name", "labels"),
    "Dataplane": ("tags",),
}


def _ref_problems(path: str, ref: Any, allowed: frozenset[str]) -> list[str]:
    """mesh.ValidateTargetRef, the parts that matter here: the kind, and the fields each kind
    takes (Mesh: none; MeshSubset: tags; Dataplane: labels or name)."""
    if not isinstance(ref, Mapping):
        return [f"{path}: must be defined"]
    kind = str(ref.get("kind"))
    if kind not in allowed:
        accepted = ", ".join(sorted(allowed))
        return [f"{path}.kind: {kind!r} is not supported here (Kuma accepts {accepted})"]
    return [
        f"{path}.{key}: must not be set with kind {kind}"
        for key in _REF_FORBIDDEN.get(kind, ())
        if key in ref
    ]


def _sections(spec: Mapping[str, Any]) -> dict[str, list[Any]]:
    return {
        key: spec[key]
        for key in ("to", "from", "rules")
        if isinstance(spec.get(key), list) and spec[key]
    }


def kuma_policy_problems(kind: str, spec: Any) -> list[str]:
    """What Kuma's admission webhook rejects in a targetRef policy that its CRD accepts, as
    ``"<path>: <message>"``: `rules` mixed with `to`/`from` (every policy),
    and for the kinds of :data:`KUMA_POLICY_RULES` the targetRef kinds per position and the
    sections a gateway / sidecar target may use."""
    if not isinstance(spec, Mapping):
        return []
    sections = _sections(spec)
    problems: list[str] = []
    if "rules" in sections and ("to" in sections or "from" in sections):
        mixed = "/".join(k for k in ("to", "from") if k in sections)
        problems.append(f"spec.rules: may not be combined with spec.{mixed}")
    rules = KUMA_POLICY_RULES.get(kind)
    if rules is None:
        return problems
    top = spec.get("targetRef") or {"kind": "Mesh"}  # Kuma's default for an absent targetRef
    problems += _ref_problems("spec.targetRef", top, rules.top)
    if rules.needs and not any(k in sections for k in rules.needs):
        problems.append(f"spec: at least one of {', '.join(rules.needs)} has to be defined")
    gateways = isinstance(top, Mapping) and includes_gateways(top)
    rejected = {
        _Inbound.NEVER: False,
        _Inbound.GATEWAY_KINDS: isinstance(top, Mapping)
        and top.get("kind") in ("MeshGateway", "MeshHTTPRoute"),
        _Inbound.INCLUDES_GATEWAYS: gateways,
    }[rules.inbound_rejected]
    for key in ("rules", "from"):
        if key in sections and rejected:
            problems.append(
                f"spec.{key}: must not be defined when spec.targetRef includes gateways"
                " (select proxyTypes: [Sidecar], or target gateways only and use spec.to)"
            )
    if "to" in sections and rules.to_only_with_gateways and not gateways:
        problems.append(
            "spec.to: must not be defined when spec.targetRef selects sidecars only"
            " (configure their inbound traffic with spec.from/spec.rules)"
        )
    under_gateway = isinstance(top, Mapping) and top.get("kind") in ("MeshGateway", "MeshHTTPRoute")
    to_kinds = rules.to
    if rules.to_under_gateway is not None and under_gateway:
        to_kinds = rules.to_under_gateway
    for key, allowed in (("to", to_kinds), ("from", rules.from_)):
        for index, entry in enumerate(sections.get(key, [])):
            ref = entry.get("targetRef") if isinstance(entry, Mapping) else None
            if allowed:
                problems += _ref_problems(f"spec.{key}[{index}].targetRef", ref, allowed)
    return problems + _default_problems(rules.default_needs, sections.get("to", []))


def _default_problems(needs: Sequence[str], entries: Sequence[Any]) -> list[str]:
    """validators.MustHaveAtLeastOne on each `to` entry's default (MeshHealthCheck)."""
    problems = []
    for index, entry in enumerate(entries if needs else []):
        default = (entry.get("default") if isinstance(entry, Mapping) else None) or {}
        if not any(default.get(k) is not None for k in needs):
            problems.append(
                f"spec.to[{index}].default: must have at least one defined: {', '.join(needs)}"
            )
    return problems


# -- a whole document ------------------------------------------------------------------------------
def is_kuma_policy(doc: Mapping[str, Any]) -> bool:
    api_version = str(doc.get("apiVersion"))
    return api_version.rpartition("/")[0] == KUMA_GROUP and doc.get("kind") != "Mesh"


def kuma_problems(doc: Mapping[str, Any]) -> list[str]:
    """What Kuma refuses in one document that its CRD schema accepts, as `kind/name: path: why`:
    the Mesh and MeshGateway specs (hand-checked), or a targetRef policy's admission rules."""
    if str(doc.get("apiVersion")).rpartition("/")[0] != KUMA_GROUP:
        return []
    prefix = describe(doc)
    if doc.get("kind") == "Mesh":
        return _check_mesh_spec(prefix, doc.get("spec"))
    if doc.get("kind") == "MeshGateway":
        return _check_gateway_spec(prefix, doc.get("spec"))
    return [f"{prefix}: {p}" for p in kuma_policy_problems(str(doc.get("kind")), doc.get("spec"))]


# -- which proxies a targetRef selects, and which policy wins --------------------------------------
# How specific a targetRef is: Kuma orders matching policies by it, the most specific wins
# (pkg/plugins/policies/core/rules: Mesh < MeshSubset < Dataplane, then more tags/labels).
_SPECIFICITY = {"Mesh": 0, "MeshSubset": 1, "Dataplane": 2, "MeshGateway": 3}


def target_selects(
    ref: Mapping[str, Any],
    tags: Mapping[str, str],
    proxy: str = "Sidecar",
    gateway: str | None = None,
) -> bool:
    """Whether a targetRef selects a proxy of this type (`Sidecar` or `Gateway`, then serving the
    MeshGateway `gateway`) with these tags (pod labels, namespace, zone). `proxyTypes` narrows a
    Mesh/MeshSubset target; empty: both (api/common/v1alpha1/targetref.go)."""
    kind = ref.get("kind")
    if kind == "MeshGateway":
        return proxy == "Gateway" and ref.get("name") == gateway
    if kind in ("Mesh", "MeshSubset") and proxy not in (ref.get("proxyTypes") or [proxy]):
        return False
    if kind == "Mesh":
        return True
    if kind == "MeshSubset":
        return _subset(ref.get("tags") or {}, tags)
    if kind == "Dataplane" and "labels" in ref:
        return _subset(ref["labels"], tags)
    raise ValueError(f"targetRef {dict(ref)} is not modelled offline")


def specificity(ref: Mapping[str, Any]) -> tuple[int, int]:
    selectors = ref.get("tags") or ref.get("labels") or {}
    return _SPECIFICITY[str(ref.get("kind"))], len(selectors)


def _subset(small: Mapping[str, Any], big: Mapping[str, Any]) -> bool:
    return all(big.get(k) == v for k, v in small.items())


# -- which zone's endpoints a proxy prefers ------------------------------------------------------


def endpoint_priority(
    conf: Mapping[str, Any],
    *,
    local_zone: str,
    endpoint_zone: str,
    zone_egress: bool,
    on_egress: bool = False,
) -> int | None:
    """The Envoy priority a proxy in `local_zone` gives an endpoint in `endpoint_zone` under the
    MeshLoadBalancingStrategy `default` it gets (`conf`; empty: no MLBS selects it). 0 is tried
    first; Envoy sends traffic to priority 1 only as priority 0 loses healthy hosts (envoyproxy.io
    docs, load_balancing/priority). None: the endpoint is not used at all. Ported from kumahq/kuma
    v2.13.10:
    - no MLBS: pkg/xds/topology/outbound.go GetLocality gives every zone priority 0 unless the
      Mesh sets routing.localityAwareLoadBalancing (ours does not);
    - an MLBS: pkg/envoy/builders/endpoint/endpoint.go NonLocalPriority puts other zones at 1
      unless localityAwareness.disabled; with localZone/crossZone set,
      pkg/plugins/policies/meshloadbalancingstrategy/plugin/v1alpha1/locality_aware.go
      NewEndpoints: local endpoints 0; with zone egress on, a sidecar reaches every other zone
      through its ZoneEgress at priority 1 (egressLocality), and the egress (or a proxy without
      zone egress) applies crossZone.failover in order (priority.go: rule i gives i + 1, `None`
      and unmatched zones are dropped)."""
    if endpoint_zone == local_zone:
        return 0
    awareness = conf.get("localityAwareness")
    if not isinstance(awareness, Mapping):
        return 1 if conf else 0
    if awareness.get("disabled") is True:
        return 0
    if not awareness.get("localZone") and not awareness.get("crossZone"):
        return 1
    if zone_egress and not on_egress:
        return 1
    failover = (awareness.get("crossZone") or {}).get("failover") or []
    for index, rule in enumerate(failover):
        sources = (rule.get("from") or {}).get("zones")
        if sources is not None and local_zone not in sources:
            continue
        to = rule.get("to") or {}
        zones = set(to.get("zones") or [])
        kind = to.get("type")
        if (
            kind == "Any"
            or (kind == "AnyExcept" and endpoint_zone not in zones)
            or (kind == "Only" and endpoint_zone in zones)
        ):
            return index + 1
    return None


def gateway_service_tag(instance: str, namespace: str) -> str:
    """The `kuma.io/service` tag of a MeshGatewayInstance's proxies, unless its spec.tags sets one
    (pkg/plugins/runtime/k8s/controllers/gateway_instance_controller.go gatewayInstanceTags,
    pkg/plugins/runtime/k8s/util/util.go ServiceTag)."""
    return f"{instance}_{namespace}_svc"


def service_tag(service: str, namespace: str, port: int) -> str:
    """The `kuma.io/service` tag of the endpoints behind a Kubernetes Service port: what a
    `kind: MeshService` backendRef names while the Mesh has no MeshService objects (util.go
    ServiceTag with the port)."""
    return f"{service}_{namespace}_svc_{port}"


# -- active health checks ------------------------------------------------------------------------

# What Envoy gets for an unset MeshHealthCheck field (pkg/plugins/policies/meshhealthcheck/plugin/
# xds/configurer.go: defaultInterval, defaultTimeout, defaultUnhealthyThreshold,
# defaultHealthyThreshold, defaultHTTPPath).
HEALTH_CHECK_DEFAULTS: dict[str, Any] = {
    "interval": "1m",
    "timeout": "15s",
    "unhealthyThreshold": 5,
    "healthyThreshold": 1,
}
HEALTH_CHECK_DEFAULT_HTTP_PATH = "/"


def health_checker(conf: Mapping[str, Any], protocol: str) -> str | None:
    """The Envoy health checker a MeshHealthCheck `default` gives a destination of this Kuma
    protocol (its `kuma.io/protocol` tag): `http`, `grpc`, `tcp` or None (no active check).
    Ported from configurer.go selectHealthCheckType: the checker of the destination's own
    protocol when set and not disabled, else TCP for an HTTP/gRPC destination whose own checker
    is disabled; an HTTP destination with only a `tcp` section gets no check at all."""

    def enabled(key: str) -> bool:
        return isinstance(conf.get(key), Mapping) and conf[key].get("disabled") is not True

    def disabled(key: str) -> bool:
        return isinstance(conf.get(key), Mapping) and conf[key].get("disabled") is True

    own = {"http": "http", "http2": "http", "grpc": "grpc", "tcp": "tcp"}.get(protocol)
    if own is not None and enabled(own):
        return own
    if own in ("http", "grpc") and disabled(own) and enabled("tcp"):
        return "tcp"
    return None


# The protocols Kuma knows (pkg/core/metadata/protocol.go ParseProtocol); it ignores any other
# appProtocol.
_KUMA_PROTOCOLS = frozenset({"http", "http2", "tcp", "tls", "grpc", "kafka", "mysql"})


def service_port_protocol(service: Mapping[str, Any], port: Mapping[str, Any]) -> str:
    """The `kuma.io/protocol` tag of the inbounds behind a Kubernetes Service port: its
    appProtocol when Kuma knows it, else the `<port>.service.kuma.io/protocol` annotation, else
    tcp (pkg/plugins/runtime/k8s/controllers/inbound_converter.go ProtocolTagFor)."""
    value = str(port.get("appProtocol") or "")
    if value.lower() not in _KUMA_PROTOCOLS:
        value = ""
    annotations = (service.get("metadata") or {}).get("annotations") or {}
    value = value or str(annotations.get(f"{port.get('port')}.service.kuma.io/protocol") or "")
    return value.lower() or "tcp"
