"""The rules of policy/rules.py as CrossGuard policies: one adapter for all.

What a validation sees (pulumi_policy 1.21, `_PolicyAnalyzerServicer.Analyze`): `args.props` are the
resource inputs, deserialized with secrets unwrapped (so secretness is lost) and wrapped in a proxy
that raises `UnknownValueError` when a value unknown during preview is read; `args.opts` carries
`protect` but no retain-on-delete (the engine does not send it); `args.get_config()` is this
policy's entry of the `--policy-pack-config` file.

What a remediation sees (`_PolicyAnalyzerServicer.Remediate`): the same inputs deserialized with
`proxy_secrets=True`, i.e. a `_DictSecretsProxy` whose raw target (`props["__target"]`, the key
pulumi-policy's own `serialize_properties` reads) keeps every secret as a `pulumi_policy.Secret`,
and unknowns as the raw sentinel strings (no unknown-checking proxy: the props are not a dict).
Returned inputs replace the resource's inputs; a `Secret` in them is sent back as a secret.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, cast

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceRemediation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    _DictProxy,
    _is_unknown,
    _ListProxy,
)
from pulumi_policy.secret import _DictSecretsProxy, _ListSecretsProxy

from policy.rules import (
    PROJECT_ID,
    RULES,
    UNKNOWN,
    Enforcement,
    ResourceView,
    Rule,
    StackFacts,
    Where,
    plaintext_secret_paths,
)

PACK_NAME: Final = "platform-invariants"

FACT_SCHEMAS: Final[Mapping[str, dict[str, Any]]] = {
    "stage": {"type": "string", "enum": ["staging", "prod"]},
    "residency": {"type": "string", "enum": ["eu", "any"]},
    "allowedRegions": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    "project": {"type": "string", "pattern": PROJECT_ID.pattern},
}

LEVELS: Final[Mapping[Enforcement, EnforcementLevel]] = {
    Enforcement.MANDATORY: EnforcementLevel.MANDATORY,
    Enforcement.ADVISORY: EnforcementLevel.ADVISORY,
}


UNKNOWN_SENTINELS: Final = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)
"""The values pulumi_policy.proxy._is_unknown treats as unknown."""


def plain(value: Any) -> Any:
    """pulumi_policy's unknown-checking proxies as plain dicts/lists, unknown values as UNKNOWN,
    so that one computed value does not stop a rule from checking the rest of the resource.

    pulumi_policy.proxy._proxy_helper wraps every dict and list of the inputs, so below a proxy
    there are only proxies and scalars (a raw sentinel where a value is unknown). Each proxy's raw
    target (`proxy["__target"]`, the key pulumi-policy's own serializer reads) is read directly
    instead of item by item through the proxy: same result, without an UnknownValueError per
    unknown and an ABC isinstance check per scalar. This runs for every policy on every resource
    of every preview."""
    if isinstance(value, str):  # first: most inputs are strings
        return UNKNOWN if value in UNKNOWN_SENTINELS else value
    if isinstance(value, _DictProxy):
        return {key: plain(child) for key, child in value["__target"].items()}
    if isinstance(value, _ListProxy):
        return [plain(child) for child in value["__target"]]
    return value


def view_of(args: ResourceValidationArgs) -> ResourceView:
    return ResourceView(
        type=args.resource_type,
        name=args.name,
        urn=args.urn,
        props=plain(args.props),
        protect=bool(args.opts.protect),
        retain_on_delete=None,  # not in the engine's AnalyzerResourceOptions
        secret_paths=None,  # pulumi_policy unwraps secrets before validations run
    )


def validation(rule: Rule) -> ResourceValidation:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        try:
            facts = StackFacts.parse(args.get_config(), rule.facts)
        except ValueError as problem:
            # Fail closed: a pack run without the stack's config must not pass silently.
            report_violation(
                f"policy config for {rule.name!r} is missing or wrong ({problem}); pass "
                "--policy-pack-config build/<stack>/policy-config.json (make policy-config)",
                None,
            )
            return
        for message in rule.evaluate(view_of(args), facts):
            report_violation(message, None)

    return validate


def policy_of(rule: Rule) -> ResourceValidationPolicy:
    schema = (
        PolicyConfigSchema(
            properties={key: FACT_SCHEMAS[key] for key in rule.facts}, required=list(rule.facts)
        )
        if rule.facts
        else None
    )
    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validation(rule),
        enforcement_level=LEVELS[rule.enforcement],
        config_schema=schema,
    )


def _revealed(value: Any, path: str, secrets: list[str]) -> Any:
    """A remediation's raw inputs as plain data (unknown sentinels kept), recording the dotted
    paths (as rules.walk spells them) that arrived as secrets."""
    if isinstance(value, _DictSecretsProxy | _ListSecretsProxy):
        return _revealed(value["__target"], path, secrets)
    if isinstance(value, Secret):
        secrets.append(path)
        return _revealed(value.value, path, [])
    if isinstance(value, Mapping):
        return {k: _revealed(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_revealed(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    return value


def _known(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _known(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_known(v) for v in value]
    return UNKNOWN if _is_unknown(value) else value


def _as_secrets(value: Any, path: str, secret: frozenset[str]) -> Any:
    """`value` with every input at a path in `secret` wrapped as a Secret."""
    if isinstance(value, dict):
        value = {k: _as_secrets(v, f"{path}.{k}" if path else k, secret) for k, v in value.items()}
    elif isinstance(value, list):
        value = [_as_secrets(v, f"{path}[{i}]", secret) for i, v in enumerate(value)]
    return Secret(value) if path in secret else value


def secrets_remediation(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    """`secrets-are-secret` under CrossGuard: the inputs with every plaintext secret path (and
    every input that already was a secret) sent as a secret; None (no remediation) when every
    secret-bearing input already is one."""
    secrets: list[str] = []
    raw = _revealed(args.props, "", secrets)
    view = ResourceView(
        type=args.resource_type,
        name=args.name,
        urn=args.urn,
        props=_known(raw),
        protect=bool(args.opts.protect),
        secret_paths=frozenset(secrets),
    )
    plaintext = plaintext_secret_paths(view)
    if not plaintext:
        return None
    repaired: Mapping[str, Any] = _as_secrets(raw, "", frozenset([*secrets, *plaintext]))
    return repaired


REMEDIATIONS: Final[Mapping[str, Callable[[ResourceValidationArgs], Mapping[str, Any] | None]]] = {
    "secrets-are-secret": secrets_remediation,
}
"""The repair of each Where.REMEDIATED rule."""


def policies() -> list[Policy]:
    """Every rule as CrossGuard runs it: a validation where CrossGuard can see what the rule
    checks, a remediation where only a remediation can (Where.REMEDIATED), nothing otherwise."""
    found: list[Policy] = []
    for rule in RULES:
        if not rule.offline_only:
            found.append(policy_of(rule))
        elif rule.where is Where.REMEDIATED:
            found.append(
                ResourceValidationPolicy(
                    name=rule.name,
                    description=rule.description,
                    # Typed as async only, but Remediate also takes a plain result
                    # (pulumi_policy/policy.py: `elif result is not None: new_props = result`).
                    remediate=cast(ResourceRemediation, REMEDIATIONS[rule.name]),
                    enforcement_level=EnforcementLevel.REMEDIATE,
                )
            )
    return found
