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
    needs: tuple[str, ...] = ()  # at least one of these sections must be set
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
    # MeshHTTPRoute; validateFrom: kind Mesh only, and no `from` under a MeshGateway/MeshHTTPRoute.
    "MeshTimeout": KumaPolicyRules(
        top=_TOP_KINDS | {"MeshHTTPRoute"},
        to=_OUTBOUND_KINDS | {"MeshHTTPRoute"},
        from_=frozenset({"Mesh"}),
        inbound_rejected=_Inbound.GATEWAY_KINDS,
        needs=("to", "from", "rules"),
        source="meshtimeout/api/v1alpha1/validator.go",
    ),
    # Outbound only: `to` needs at least one item.
    "MeshRetry": KumaPolicyRules(
        top=_TOP_KINDS | {"MeshHTTPRoute"},
        to=_OUTBOUND_KINDS | {"MeshHTTPRoute"},
        from_=_NONE,
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
    for key, allowed in (("to", rules.to), ("from", rules.from_)):
        for index, entry in enumerate(sections.get(key, [])):
            ref = entry.get("targetRef") if isinstance(entry, Mapping) else None
            if allowed:
                problems += _ref_problems(f"spec.{key}[{index}].targetRef", ref, allowed)
    return problems


# -- a whole document ------------------------------------------------------------------------------
def is_kuma_policy(doc: Mapping[str, Any]) -> bool:
    api_version = str(doc.get("apiVersion"))
    return api_version.rpartition("/")[0] == KUMA_GROUP and doc.get("kind") != "Mesh"


def kuma_problems(doc: Mapping[str, Any]) -> list[str]:
    """What Kuma refuses in one document that its CRD schema accepts, as `kind/name: path: why`:
    the Mesh spec (hand-checked), or a targetRef policy's admission rules."""
    if str(doc.get("apiVersion")).rpartition("/")[0] != KUMA_GROUP:
        return []
    prefix = describe(doc)
    if doc.get("kind") == "Mesh":
        return _check_mesh_spec(prefix, doc.get("spec"))
    return [f"{prefix}: {p}" for p in kuma_policy_problems(str(doc.get("kind")), doc.get("spec"))]


# -- which proxies a targetRef selects, and which policy wins --------------------------------------
# How specific a targetRef is: Kuma orders matching policies by it, the most specific wins
# (pkg/plugins/policies/core/rules: Mesh < MeshSubset < Dataplane, then more tags/labels).
_SPECIFICITY = {"Mesh": 0, "MeshSubset": 1, "Dataplane": 2}


def target_selects(ref: Mapping[str, Any], tags: Mapping[str, str]) -> bool:
    """Whether a targetRef selects a proxy with these tags (pod labels, namespace, zone)."""
    kind = ref.get("kind")
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
