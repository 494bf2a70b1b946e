"""The rules of policy/rules.py as CrossGuard `ResourceValidationPolicy`s: one adapter for all.

What a validation sees (pulumi_policy 1.21, `_PolicyAnalyzerServicer.Analyze`): `args.props` are the
resource inputs, deserialized with secrets unwrapped (so secretness is lost) and wrapped in a proxy
that raises `UnknownValueError` when a value unknown during preview is read; `args.opts` carries
`protect` but no retain-on-delete (the engine does not send it); `args.get_config()` is this
policy's entry of the `--policy-pack-config` file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from policy.rules import PROJECT_ID, RULES, UNKNOWN, Enforcement, ResourceView, Rule, StackFacts

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


def plain(value: Any) -> Any:
    """pulumi_policy's unknown-checking proxies as plain dicts/lists, unknown values as UNKNOWN,
    so that one computed value does not stop a rule from checking the rest of the resource."""
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key in value:
            try:
                result[key] = plain(value[key])
            except UnknownValueError:
                result[key] = UNKNOWN
        return result
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
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


def policies() -> list[Policy]:
    """Every rule CrossGuard can evaluate (offline-only rules need what it cannot see)."""
    return [policy_of(rule) for rule in RULES if not rule.offline_only]
