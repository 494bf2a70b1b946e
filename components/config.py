"""Reading and reporting the stack configuration (the model itself: components/config_model.py).

`load_stack_config()` reads the running stack's config as the Pulumi CLI hands it to the program and
validates all of it before any resource is registered. Every problem is reported at once, each
naming the config key (as you would pass it to `pulumi config set --path`) and what would be
accepted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, TypeVar

import pulumi
from pydantic import BaseModel, TypeAdapter, ValidationError

from components.config_model import (
    Cluster,
    ClusterView,
    ConfigView,
    KeyedConfigError,
    PlatformConfig,
    SecretEntry,
    cross_key_problems,
    stack_name_problems,
)

PLATFORM_NAMESPACE = "platform"
# Model fields read from the gcp provider's namespace (gcp:project, gcp:region).
GCP_KEYS = ("project", "region")

M = TypeVar("M", bound=BaseModel)


class StackConfigError(pulumi.RunError):
    """Raised before any resource is registered; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid stack configuration:\n" + "\n".join(f"  - {p}" for p in problems))


# -- error locations -------------------------------------------------------------------------------
def _key_path(namespace: str, loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as the key a user passes to `pulumi config set --path`."""
    if not loc:
        return f"{namespace}:"
    head, *rest = loc
    if isinstance(head, str) and ":" in head:  # already a full key, see read_raw_config
        path = head
    else:
        key = "gcp" if head in GCP_KEYS else namespace
        path = f"{key}:{head}"
    for part in rest:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).isprintable() and not any(c.isspace() for c in str(part)):
            path += f".{part}"
        else:  # an unknown key that is not one a user could type after a dot: quote it
            path += f"[{json.dumps(part)}]"
    return path


def _full_key(namespace: str, key: str) -> str:
    """A problem key of the model (relative, or `gcp:...`) as a full config key."""
    return key if key.startswith("gcp:") else f"{namespace}:{key}"


def _messages(error: Mapping[str, Any], namespace: str, base: tuple[int | str, ...]) -> list[str]:
    # Drop pydantic's union/validator bookkeeping segments from the location.
    loc = (*base, *(
        part
        for part in error["loc"]
        if not (isinstance(part, str) and (part.startswith("function-") or "[" in part))
    ))  # fmt: skip
    message = str(error["msg"]).removeprefix("Value error, ")
    kind = error["type"]
    if kind == "missing":
        return [f"{_key_path(namespace, loc)}: required key is missing"]
    if kind == "extra_forbidden":
        return [
            f"{_key_path(namespace, loc)}: unknown key (a typo? see docs/configuration.md for the "
            "accepted keys)"
        ]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, KeyedConfigError):
        if not loc:
            return [f"{_full_key(namespace, key)}: {text}" for key, text in cause.problems]
        base_key = _key_path(namespace, loc)
        return [f"{base_key}.{key}: {text}" for key, text in cause.problems]
    return [f"{_key_path(namespace, loc)}: {message}"]


def _problems(exc: ValidationError, namespace: str, base: tuple[int | str, ...] = ()) -> list[str]:
    return [m for error in exc.errors() for m in _messages(error, namespace, base)]


# -- partial validation: every key on its own, then the rules across keys --------------------------
@cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    """A validator of one field of `model` (its constraints live in the field's metadata)."""
    info = model.model_fields[name]
    annotated: Any = (
        Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    )
    return TypeAdapter(annotated)


def _key(model: type[BaseModel], name: str, raw: Any) -> Any:
    """Field `name` of `model` validated on its own from the mapping `raw`: its value (the
    default when absent), or None when it is invalid or a required key is absent."""
    info = model.model_fields[name]
    alias = info.alias or name
    if not isinstance(raw, Mapping) or alias not in raw:
        return None if info.is_required() else info.get_default(call_default_factory=True)
    try:
        return _field_adapter(model, name).validate_python(raw[alias])
    except ValidationError:
        return None


def _valid_items(model: type[M], raw: Any) -> list[tuple[int, M]]:
    """The items of a list key that validate as `model`, with their index."""
    items: list[tuple[int, M]] = []
    for index, item in enumerate(raw if isinstance(raw, list) else []):
        try:
            items.append((index, model.model_validate(item)))
        except ValidationError:
            continue
    return items


def _all_valid(model: type[BaseModel], raw: Any) -> bool:
    """Every item of a list key validates as `model` (not a list: nothing to miss)."""
    items = raw if isinstance(raw, list) else []
    return len(_valid_items(model, items)) == len(items)


def view_of(raw: Mapping[str, Any], stack: str | None) -> ConfigView:
    """What validated of `raw`, key by key, for the rules across keys."""
    raw_clusters = raw.get("clusters")
    clusters = [
        ClusterView(
            index,
            name=_key(Cluster, "name", item),
            role=_key(Cluster, "role", item),
            region=_key(Cluster, "region", item),
            ranges=_key(Cluster, "ranges", item),
            kuma_zone=_key(Cluster, "kuma_zone", item),
            node_pools=_key(Cluster, "node_pools", item),
            has_maintenance=isinstance(item, Mapping) and "maintenance" in item,
        )
        for index, item in enumerate(raw_clusters if isinstance(raw_clusters, list) else [])
    ]
    config = PlatformConfig
    return ConfigView(
        stack=stack,
        region=_key(config, "region", raw),
        environment=_key(config, "environment", raw),
        stage=_key(config, "stage", raw),
        residency=_key(config, "residency", raw),
        allowed_regions=_key(config, "allowed_regions", raw),
        network=_key(config, "network", raw),
        clusters=clusters,
        secret_replica_regions=_key(config, "secret_replica_regions", raw),
        secrets=_valid_items(SecretEntry, raw.get("secrets")),
        secrets_complete=_all_valid(SecretEntry, raw.get("secrets")),
        tenants=_key(config, "tenants", raw),
        gitops=_key(config, "gitops", raw),
        gateway=_key(config, "gateway", raw),
        gateway_declared=raw.get("gateway") is not None,
        protect=_key(config, "protect", raw),
        logging=_key(config, "logging", raw),
        database=_key(config, "database", raw),
    )


def _reported_key(problem: str) -> str:
    return problem.split(": ", 1)[0]


def _within(key: str, other: str) -> bool:
    """`key` is `other` or lies inside it (`a.b` is within `a`, `a[1].c` within `a[1]`)."""
    return key == other or key.startswith((f"{other}.", f"{other}["))


def parse_platform_config(
    raw: Mapping[str, Any], namespace: str = PLATFORM_NAMESPACE, stack: str | None = None
) -> PlatformConfig:
    """Validate a plain mapping (camelCase keys, `project`/`region` from the gcp namespace); with
    `stack`, also that the environment is named after it. StackConfigError lists every problem."""
    try:
        config = PlatformConfig.model_validate(raw)
    except ValidationError as exc:
        problems = _problems(exc, namespace)
        # The model's rules across keys run only once every key is valid: run them on what did
        # validate, leaving out those about a key that already has a problem (an overlap with a
        # range of the wrong size may vanish once the size is fixed).
        reported = [_reported_key(p) for p in problems]
        for key, message in cross_key_problems(view_of(raw, stack)):
            full = _full_key(namespace, key)
            mentioned = {f"{namespace}:{word}" for word in message.split()}
            if not any(_within(full, other) or other in mentioned for other in reported):
                problems.append(f"{full}: {message}")
        raise StackConfigError(list(dict.fromkeys(problems))) from None
    mismatch = stack_name_problems(ConfigView(stack=stack, environment=config.environment))
    if mismatch:
        raise StackConfigError([f"{_full_key(namespace, key)}: {text}" for key, text in mismatch])
    return config


# -- reading ---------------------------------------------------------------------------------------
def _decode(value: Any) -> Any:
    """Pulumi hands structured config to the program as JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def read_raw_config(namespace: str = PLATFORM_NAMESPACE) -> dict[str, Any]:
    """Every `<namespace>:*` key of the running stack, plus gcp:project and gcp:region.

    The Python language host hands the program the whole stack config as JSON in PULUMI_CONFIG
    (pulumi-language-python `constructConfig`); `pulumi.runtime.get_config_env` is the SDK's
    public reader of it, and the only way to see keys the program does not know (typos)."""
    raw: dict[str, Any] = {}
    for full_key, value in pulumi.runtime.get_config_env().items():
        ns, _, key = full_key.partition(":")
        if ns == namespace:
            # project/region are read from gcp:*; `platform:project` is an unknown key, not a
            # silently ignored (or silently used) synonym, so keep its full name for the error.
            raw[full_key if key in GCP_KEYS else key] = _decode(value)
    for key in GCP_KEYS:
        value = pulumi.runtime.get_config(f"gcp:{key}")
        if value is not None:
            raw[key] = value
    return raw


def load_stack_config() -> PlatformConfig:
    """Read and validate the running stack's config; StackConfigError lists every problem."""
    return parse_platform_config(read_raw_config(), stack=pulumi.get_stack())
