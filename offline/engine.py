"""Run the Pulumi program for a stack under Pulumi's mock engine and capture every registration.

The real engine is replaced by `RecordingMonitor`, a subclass of the SDK's `MockMonitor` that keeps
the whole RegisterResource request (type, name, inputs, parent, dependencies, options, provider,
which inputs are secret). `make plan`, `make diff`, the policy pack's offline runs and the tests all
use `plan_stack()`, so they see exactly what `pulumi preview` would send to the providers.

What the mocks cannot know (ids, emails, endpoints the cloud assigns) is filled in by
`PlatformMocks` with deterministic, realistically shaped values.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import copy
import datetime
import functools
import gc
import hashlib
import json
import os
import queue
import sys
import threading
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from offline import pulumi_project, resource_ids
from offline.pulumi_project import ROOT_STACK_TYPE, EngineRuleError

REPO_ROOT = Path(__file__).resolve().parent.parent
STACK_TYPE = ROOT_STACK_TYPE

# Signatures of the Pulumi wire format (pulumi/runtime/rpc.py).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

DELETE = object()
"""Use as a value in `plan_stack(overrides=...)` to remove a config key."""


@dataclass(frozen=True)
class Registration:
    """One RegisterResource call, as the engine would receive it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    secret_paths: list[str]
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    provider: str
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    ignore_changes: list[str]
    replace_on_changes: list[str]
    additional_secret_outputs: list[str]
    deleted_with: str
    import_id: str
    version: str
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def provider_urn(self) -> str:
        """The provider reference is `urn::id`; the URN part identifies the provider."""
        return self.provider.rsplit("::", 1)[0] if self.provider else ""

    def is_secret(self, path: str) -> bool:
        """True when `path` (dotted) or one of its ancestors was sent as a Pulumi secret."""
        return any(
            path == p or path.startswith(p + ".") or path.startswith(p + "[")
            for p in self.secret_paths
        )

    def get(self, path: str, default: Any = None) -> Any:
        """Look up a dotted input path such as `privateClusterConfig.enablePrivateNodes`."""
        node: Any = self.inputs
        for part in path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return default
        return node


@dataclass
class Plan:
    stack: str
    project: str
    config: dict[str, Any]
    registrations: list[Registration]
    stack_outputs: dict[str, Any]
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    # -- queries used by the tests, the policy pack and the CLI ----------------------------------
    @property
    def resources(self) -> list[Registration]:
        """Everything but the root stack."""
        return [r for r in self.registrations if r.type != STACK_TYPE]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.registrations}

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def one(self, type_: str, name: str) -> Registration:
        matches = [r for r in self.registrations if r.type == type_ and r.name == name]
        if len(matches) != 1:
            known = sorted(r.name for r in self.of_type(type_))
            raise KeyError(f"{len(matches)} x {type_} named {name!r}; known: {known}")
        return matches[0]

    def children(self, parent: Registration) -> list[Registration]:
        return [r for r in self.registrations if r.parent == parent.urn]

    def ancestors(self, resource: Registration) -> Iterator[Registration]:
        index = self.by_urn()
        current = index.get(resource.parent)
        while current is not None:
            yield current
            current = index.get(current.parent)

    def depends_on(self, resource: Registration, other: Registration) -> bool:
        """True when `resource` waits for `other`, directly or through its dependency graph.

        Pulumi waits for every resource in `dependencies` and, for a component dependency, for
        every resource under that component; parents are not waited for.
        """
        graph = self.dependency_graph()
        seen: set[str] = set()
        stack = [resource.urn]
        while stack:
            urn = stack.pop()
            if urn in seen:
                continue
            seen.add(urn)
            if urn == other.urn and urn != resource.urn:
                return True
            stack.extend(graph.get(urn, ()))
        return False

    def dependency_graph(self) -> dict[str, set[str]]:
        """urn -> the urns it waits for (explicit and input dependencies, components expanded,
        and the provider it is created with)."""
        cached: dict[str, set[str]] | None = getattr(self, "_graph", None)
        if cached is not None:
            return cached
        descendants: dict[str, set[str]] = {r.urn: set() for r in self.registrations}
        for r in self.registrations:
            for ancestor in self.ancestors(r):
                descendants[ancestor.urn].add(r.urn)
        graph: dict[str, set[str]] = {}
        for r in self.registrations:
            edges: set[str] = set(r.dependencies)
            for urns in r.property_dependencies.values():
                edges.update(urns)
            if r.provider_urn:
                edges.add(r.provider_urn)
            expanded = set(edges)
            for urn in edges:
                expanded |= descendants.get(urn, set())
            graph[r.urn] = expanded
        self._graph = graph
        return graph

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "project": self.project,
            "config": self.config,
            "error": self.error,
            "warnings": self.warnings,
            "stackOutputs": self.stack_outputs,
            "registrations": [asdict(r) for r in self.registrations],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            stack=data["stack"],
            project=data["project"],
            config=data["config"],
            registrations=[Registration(**r) for r in data["registrations"]],
            stack_outputs=data["stackOutputs"],
            error=data["error"],
            warnings=list(data["warnings"]),
        )


# -- stack config ----------------------------------------------------------------------------------
def stack_config(stack: str, repo: Path = REPO_ROOT) -> dict[str, Any]:
    """The config `pulumi preview -s <stack>` gives the program: Pulumi.<stack>.yaml checked against
    Pulumi.yaml and merged with its defaults, as the CLI does (offline.pulumi_project)."""
    return pulumi_project.load_stack_config(repo, stack)


def _to_engine_config(config: Mapping[str, Any]) -> dict[str, str]:
    """The engine hands structured values to the program as JSON text, scalars as strings."""
    engine: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            raise ValueError(f"{key}: encrypted config cannot be read offline")
        if isinstance(value, str):
            engine[key] = value
        elif isinstance(value, bool):
            engine[key] = "true" if value else "false"
        else:
            engine[key] = json.dumps(value)
    return engine


def apply_overrides(config: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of `config` with `ns:key` values replaced (or removed with DELETE)."""
    result = copy.deepcopy(dict(config))
    for key, value in overrides.items():
        if value is DELETE:
            result.pop(key, None)
        else:
            result[key] = copy.deepcopy(value)
    return result


# -- wire-format decoding --------------------------------------------------------------------------
def _decode(value: Any, path: str, secrets: list[str]) -> Any:
    """Turn a MessageToDict'd struct into plain data, recording the paths of secret values."""
    if isinstance(value, dict):
        sig = value.get(_SIG_KEY)
        if sig == _SECRET_SIG:
            secrets.append(path)
            return _decode(value.get("value"), path, [])
        if sig == _RESOURCE_SIG:
            return {"$ref": value.get("urn"), "id": value.get("id")}
        return {k: _decode(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    if value == _UNKNOWN:
        return "<computed>"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _struct_to_dict(struct: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    decoded: dict[str, Any] = json_format.MessageToDict(struct, preserving_proto_field_name=True)
    return decoded


# -- the mocks -------------------------------------------------------------------------------------
def _short_hash(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


FAKE_CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBmock\n-----END CERTIFICATE-----\n"
# "Now" for values the provider derives from the creation time (certificate validity).
MOCK_NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


# Resource names the API assigns (the bootstrap program's types): pools by project number.
_POOL_NAME = "projects/123456789012/locations/global/workloadIdentityPools/{}"
_ASSIGNED_NAMES: dict[str, Callable[[Mapping[str, Any], str], str]] = {
    "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": (
        lambda i, p: _POOL_NAME.format(i["workloadIdentityPoolId"])
    ),
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": (
        lambda i, p: (
            _POOL_NAME.format(i["workloadIdentityPoolId"])
            + f"/providers/{i['workloadIdentityPoolProviderId']}"
        )
    ),
    "gcp:projects/iAMCustomRole:IAMCustomRole": lambda i, p: f"projects/{p}/roles/{i['roleId']}",
}


def _account(inputs: Mapping[str, Any], proj: str) -> dict[str, Any]:
    email = f"{inputs['accountId']}@{proj}.iam.gserviceaccount.com"
    return {
        "email": email,
        "member": f"serviceAccount:{email}",
        "name": f"projects/{proj}/serviceAccounts/{email}",
    }


# Google-managed service agents are named after the project number (the mocks' 123456789012;
# cloud.google.com/iam/docs/service-agents).
_SERVICE_AGENT_DOMAINS: dict[str, str] = {
    "container.googleapis.com": "container-engine-robot",
    "sqladmin.googleapis.com": "gcp-sa-cloud-sql",
}


def _service_agent(inputs: Mapping[str, Any], proj: str) -> dict[str, Any]:
    domain = _SERVICE_AGENT_DOMAINS[str(inputs["service"])]
    email = f"service-123456789012@{domain}.iam.gserviceaccount.com"
    return {"email": email, "member": f"serviceAccount:{email}"}


def _sql_instance(inputs: Mapping[str, Any], proj: str) -> dict[str, Any]:
    # The service attachment lives in a Google-owned tenant project
    # (cloud.google.com/sql/docs/postgres/configure-private-service-connect).
    name, region = str(inputs["name"]), str(inputs["region"])
    return {
        "connectionName": f"{proj}:{region}:{name}",
        "pscServiceAttachmentLink": f"projects/{_short_hash(proj, name, length=8)}-tp/regions/"
        f"{region}/serviceAttachments/a-{_short_hash(proj, name, length=12)}-psc",
    }


# Outputs computed from a resource's own inputs, per type.
_IDENTITY_OUTPUTS: dict[str, Callable[[Mapping[str, Any], str], dict[str, Any]]] = {
    "gcp:serviceaccount/account:Account": _account,
    "gcp:projects/serviceIdentity:ServiceIdentity": _service_agent,
    "gcp:sql/databaseInstance:DatabaseInstance": _sql_instance,
}


def _computed_outputs(
    type_: str, name: str, inputs: Mapping[str, Any], project: str
) -> dict[str, Any]:
    """Realistic values for what the cloud would assign, derived only from the inputs."""
    proj = str(inputs.get("project", project))
    if type_ in _ASSIGNED_NAMES:
        return {"name": _ASSIGNED_NAMES[type_](inputs, proj)}
    if type_ in _IDENTITY_OUTPUTS:
        return _IDENTITY_OUTPUTS[type_](inputs, proj)
    if type_ == "gcp:compute/network:Network":
        return {
            "selfLink": f"https://www.googleapis.com/compute/v1/projects/{proj}/global/networks/{inputs['name']}"
        }
    if type_ == "gcp:compute/subnetwork:Subnetwork":
        return {
            "selfLink": f"https://www.googleapis.com/compute/v1/projects/{proj}/regions/{inputs['region']}/subnetworks/{inputs['name']}"
        }
    if type_ == "gcp:container/cluster:Cluster":
        location = str(inputs["location"])
        cluster_hash = _short_hash(proj, str(inputs["name"]), length=32)
        endpoint = f"gke-{cluster_hash}-123456789012.{location}.gke.goog"
        endpoints = copy.deepcopy(inputs.get("controlPlaneEndpointsConfig") or {})
        endpoints.setdefault("dnsEndpointConfig", {})["endpoint"] = endpoint
        return {
            "endpoint": "172.16.0.2",
            "controlPlaneEndpointsConfig": endpoints,
            "masterAuth": {"clusterCaCertificate": "bW9jay1jYQ=="},
            "selfLink": f"https://container.googleapis.com/v1/projects/{proj}/locations/{location}/clusters/{inputs['name']}",
        }
    if type_ == "gcp:secretmanager/secret:Secret":
        return {"name": f"projects/123456789012/secrets/{inputs['secretId']}"}
    if type_ == "gcp:monitoring/notificationChannel:NotificationChannel":
        return {
            "name": f"projects/{proj}/notificationChannels/{_short_hash(proj, name, length=19)}"
        }
    if type_ == "gcp:compute/address:Address":
        return {"address": inputs.get("address", "10.0.0.100")}
    if type_ == "random:index/randomPassword:RandomPassword":
        return {"result": "mock-" + _short_hash(name, length=int(inputs.get("length", 16)) - 5)}
    if type_ == "tls:index/privateKey:PrivateKey":
        return {
            "privateKeyPem": "-----BEGIN PRIVATE KEY-----\nmock\n-----END PRIVATE KEY-----\n",
            "publicKeyPem": "mock-public",
        }
    if type_ in (
        "tls:index/selfSignedCert:SelfSignedCert",
        "tls:index/locallySignedCert:LocallySignedCert",
    ):
        # pulumi-tls sets validity_end_time = creation time + validity_period_hours (RFC 3339).
        hours = int(inputs.get("validityPeriodHours", 0))
        end = MOCK_NOW + datetime.timedelta(hours=hours)
        return {"certPem": FAKE_CA_PEM, "validityEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if type_ == "tls:index/certRequest:CertRequest":
        return {
            "certRequestPem": "-----BEGIN CERTIFICATE REQUEST-----\nmock\n"
            "-----END CERTIFICATE REQUEST-----\n"
        }
    return {}


def _mock_id(type_: str, name: str, inputs: Mapping[str, Any], project: str) -> str:
    """The id the provider would return, in its real format where that is derivable."""
    if type_.startswith("gcp:"):
        derived = resource_ids.gcp_id(type_, inputs, project)
    elif type_.startswith("kubernetes:"):
        derived = resource_ids.kubernetes_id(inputs)
    else:
        derived = None
    return derived or f"{name}-id"


def _make_mocks(project: str) -> Any:
    import pulumi

    class PlatformMocks(pulumi.runtime.Mocks):
        def new_resource(
            self, args: pulumi.runtime.MockResourceArgs
        ) -> tuple[str | None, dict[str, Any]]:
            state = {**args.inputs, **_computed_outputs(args.typ, args.name, args.inputs, project)}
            return _mock_id(args.typ, args.name, args.inputs, project), state

        def call(
            self, args: pulumi.runtime.MockCallArgs
        ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
            raise RuntimeError(
                f"the program called {args.token}: invokes are not allowed, they break "
                "previews of an empty project (derive the value or read it from a resource)"
            )

    return PlatformMocks()


@dataclass(frozen=True)
class _Goal:
    """The options the engine inherits from a resource's parent when the request leaves them
    unset: DeletedWith, Protect and RetainOnDelete (pulumi/pulumi
    pkg/resource/deploy/source_eval.go, `inheritFromParent`; pulumi/pulumi#12572). The SDK does
    not, and neither does MockMonitor, so a component's `deleted_with` reaches its children only
    here."""

    deleted_with: str
    protect: bool | None
    retain_on_delete: bool | None


def _inherit_from_parent(request: Any, parent: _Goal | None) -> _Goal:
    def optional(field: str, inherited: bool | None) -> bool | None:
        return bool(getattr(request, field)) if request.HasField(field) else inherited

    return _Goal(
        deleted_with=request.deletedWith or (parent.deleted_with if parent else ""),
        protect=optional("protect", parent.protect if parent else None),
        retain_on_delete=optional("retainOnDelete", parent.retain_on_delete if parent else None),
    )


def _make_monitor(mocks: Any, registrations: list[Registration]) -> Any:
    from pulumi.runtime.mocks import MockMonitor

    goals: dict[str, _Goal] = {}

    class RecordingMonitor(MockMonitor):
        def make_urn(self, parent: str, type_: str, name: str) -> str:
            """The engine's URN, not the SDK mock's: MockMonitor keeps `pulumi:pulumi:Stack$` in
            the type of the stack's children and only the last segment of a deeper parent's."""
            from pulumi.runtime.settings import get_project, get_stack

            return pulumi_project.urn(get_stack(), get_project(), parent, type_, name)

        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
            goal = _inherit_from_parent(request, goals.get(request.parent))
            goals[response.urn] = goal
            secrets: list[str] = []
            inputs = _decode(_struct_to_dict(request.object), "", secrets)
            state = self.resources.get(response.urn)
            registrations.append(
                Registration(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=bool(request.custom),
                    parent=request.parent,
                    inputs=inputs,
                    secret_paths=sorted(secrets),
                    dependencies=sorted(request.dependencies),
                    property_dependencies={
                        k: sorted(v.urns) for k, v in sorted(request.propertyDependencies.items())
                    },
                    provider=request.provider,
                    protect=bool(goal.protect),
                    retain_on_delete=bool(goal.retain_on_delete),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    ignore_changes=list(request.ignoreChanges),
                    replace_on_changes=list(request.replaceOnChanges),
                    additional_secret_outputs=list(request.additionalSecretOutputs),
                    deleted_with=goal.deleted_with,
                    import_id=request.importId,
                    version=request.version,
                    outputs=_jsonable(state.state) if state else {},
                )
            )
            return response

    return RecordingMonitor(mocks)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# -- running the program ---------------------------------------------------------------------------
class PlanFailed(Exception):
    """The program raised; `plan` holds what was registered before it did."""

    def __init__(self, plan: Plan, error: BaseException) -> None:
        self.plan = plan
        self.error = error
        super().__init__(str(error))


async def _run_to_completion(program: Callable[[], None]) -> None:
    """Run the program, then wait until every RPC and every Output it started has finished.

    Same contract as the SDK's run_pulumi_func, but waits for outstanding outputs with one
    gather per round instead of one `asyncio.wait(FIRST_COMPLETED)` per finished output, which is
    quadratic in the number of outputs (a 10-zone stack has thousands).
    """
    import asyncio

    from pulumi.runtime.settings import SETTINGS

    failure: BaseException | None = None
    try:
        program()
    except BaseException as exc:  # re-raised once the runtime is quiet
        failure = exc
    rpcs = SETTINGS.rpc_manager
    while True:
        while rpcs.rpcs:
            await asyncio.sleep(0)
            await rpcs.rpcs.pop()
        if rpcs.unhandled_exception is not None:
            raise rpcs.unhandled_exception.with_traceback(rpcs.exception_traceback)
        with SETTINGS.lock:
            pending = list(SETTINGS.outputs)
            SETTINGS.outputs.clear()
        if pending:
            await asyncio.gather(*pending)
        elif not rpcs.rpcs:
            break
    if failure is not None:
        raise failure


@contextlib.contextmanager
def delivered_config(config: Mapping[str, Any]) -> Iterator[None]:
    """Hand `config` to the program the way the Python language host does: the whole map as JSON
    text in PULUMI_CONFIG (pulumi/pulumi sdk/python/cmd/pulumi-language-python/main.go,
    `constructConfig`), secret keys in PULUMI_CONFIG_SECRET_KEYS; restored afterwards."""
    keys = ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")
    saved = {key: os.environ.get(key) for key in keys}
    os.environ["PULUMI_CONFIG"] = json.dumps(_to_engine_config(config))
    os.environ["PULUMI_CONFIG_SECRET_KEYS"] = "[]"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@functools.cache
def _program_code(path: str, source: bytes) -> types.CodeType:
    """The compiled program: keyed by its exact source, so an edited file is compiled again."""
    return compile(source, path, "exec")


def _run_as_main(code: types.CodeType, path: str) -> None:
    """Run the program as `runpy.run_path(path, run_name="__main__")` does (a fresh `__main__`
    module in sys.modules, argv[0] set to the file, the same module globals) but from the cached
    code object and without runpy's three frames, which the SDK would convert at every
    registration."""
    module = types.ModuleType("__main__")
    module.__dict__.update(
        __file__=path, __cached__=None, __loader__=None, __package__="", __spec__=None
    )
    saved_main, saved_argv0 = sys.modules.get("__main__"), sys.argv[0] if sys.argv else None
    sys.modules["__main__"] = module
    if sys.argv:
        sys.argv[0] = path
    try:
        exec(code, module.__dict__)
    finally:
        if saved_main is None:
            sys.modules.pop("__main__", None)
        else:
            sys.modules["__main__"] = saved_main
        if saved_argv0 is not None:
            sys.argv[0] = saved_argv0


def _run(stack: str, project: str, config: Mapping[str, Any], program: Path, preview: bool) -> Plan:
    import asyncio
    import logging

    import pulumi
    from pulumi.runtime import config as runtime_config
    from pulumi.runtime.settings import SETTINGS

    registrations: list[Registration] = []
    warnings: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                warnings.append(record.getMessage())

    logger = logging.getLogger(f"offline-plan-{stack}")
    logger.propagate = False
    logger.handlers = [_Collect()]

    mocks = _make_mocks(str(config.get("gcp:project", "project")))
    # Nothing set in-process: the program reads what _deliver_config put in the environment.
    runtime_config.set_all_config({}, [])
    pulumi.runtime.set_mocks(
        mocks, project=project, stack=stack, preview=preview, logger=logger,
        monitor=_make_monitor(mocks, registrations),
    )  # fmt: skip
    outputs: dict[str, Any] = {}

    code = _program_code(str(program), program.read_bytes())

    def program_main() -> None:
        original_export = pulumi.export

        def capture(name: str, value: Any) -> None:
            pulumi.Output.from_input(value).apply(lambda v: outputs.__setitem__(name, _jsonable(v)))
            original_export(name, value)

        pulumi.export = capture
        try:
            _run_as_main(code, str(program))
        finally:
            pulumi.export = original_export

    error: BaseException | None = None
    sys.path.insert(0, str(program.parent))
    try:
        with delivered_config(config):
            SETTINGS.rpc_manager.clear()
            SETTINGS.outputs.clear()
            # What the SDK's _sync_await does on a thread whose loop is not running, one frame
            # shallower (every frame below the program is converted at every registration).
            asyncio.get_event_loop().run_until_complete(_run_to_completion(program_main))
    except Exception as exc:
        error = exc
    finally:
        sys.path.remove(str(program.parent))
    plan = Plan(
        stack=stack,
        project=project,
        config=_jsonable(dict(config)),
        # Registration and export order depend on async scheduling; sorted, plans are
        # reproducible.
        registrations=sorted(registrations, key=lambda r: r.urn),
        stack_outputs=dict(sorted(outputs.items())),
        error=None if error is None else f"{type(error).__name__}: {error}",
        warnings=warnings,
    )
    if error is not None:
        raise PlanFailed(plan, error)
    return plan


def _undeclared_keys(project: pulumi_project.Project, config: Mapping[str, Any]) -> list[str]:
    """Keys of the project's namespace that Pulumi.yaml does not declare: not an engine rule (the
    CLI passes them on silently), but usually the typo behind a 'missing configuration value'."""
    declared = [str(pulumi_project.declared_key(project.name, k)) for k in project.config]
    hints: list[str] = []
    for key in config:
        if key.startswith(f"{project.name}:") and key not in declared:
            closest = pulumi_project.closest_key(key, declared)
            hint = f" (did you mean '{closest}'?)" if closest else ""
            hints.append(f"{key}: not declared in {pulumi_project.PROJECT_FILE}{hint}")
    return hints


def _checked_config(
    stack: str,
    overrides: Mapping[str, Any] | None,
    config: Mapping[str, Any] | None,
    repo: Path,
) -> tuple[pulumi_project.Project, dict[str, Any]]:
    """The project and the config the program gets, after the CLI's checks (EngineRuleError)."""
    project = pulumi_project.load_project(repo)
    if config is None:
        config = pulumi_project.load_stack_config(repo, stack, project)
    requested = apply_overrides(config, overrides or {})
    try:
        return project, pulumi_project.apply_project_config(project, stack, requested)
    except EngineRuleError as refused:
        refused.problems += _undeclared_keys(project, requested)
        raise


def plan_stack(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    repo: Path = REPO_ROOT,
    preview: bool = True,
) -> Plan:
    """Run the program of `repo` for `stack` (its Pulumi.<stack>.yaml, or `config` when given,
    with `overrides` applied) and return every registration. Raises PlanFailed on error.

    Before the program runs, the CLI's own checks apply (offline.pulumi_project): Pulumi.yaml,
    the stack file, and the effective config against the project's typed declarations. A
    violation is a PlanFailed whose error is an EngineRuleError and whose plan is empty.

    Each run happens in a fresh context, so runs are independent and may happen in any order.
    """
    try:
        project, effective = _checked_config(stack, overrides, config, repo)
    except EngineRuleError as refused:
        text = f"{type(refused).__name__}: {refused}"
        raise PlanFailed(Plan(stack, "", {}, [], {}, error=text), refused) from None
    # A plan allocates thousands of short-lived cyclic objects (tasks, futures, outputs); the
    # cyclic collector running during it only costs time (superlinear in stack size).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _on_plan_thread(_run, stack, project.name, effective, repo / "__main__.py", preview)
    finally:
        if collecting:
            gc.enable()


def _on_plan_thread(run: Callable[..., Plan], *args: Any) -> Plan:
    """`run(*args)` in a fresh context on the plan thread; the caller waits for it.

    The SDK captures the whole call stack at every registration (pulumi/runtime/resource.py
    `_get_stack_trace`, for source positions) and converts each frame: the cost grows with the
    caller's depth (under pytest a warm plan took ~35 % longer than from a script, 40 more
    frames doubled it). The plan thread's stack holds only the plan's own frames. It is one
    long-lived thread, so plans run one at a time with one event loop and one executor for the
    monitor's calls, as they did on the caller's thread. A plan started from inside a plan (a
    program that plans another stack) runs inline, as the queue's only consumer would otherwise
    wait for itself. An interrupt (Ctrl-C) stops the caller's wait, not a plan already running.
    """
    if threading.current_thread() is _PLAN_THREAD:
        return contextvars.Context().run(run, *args)
    _start_plan_thread()
    done: concurrent.futures.Future[Plan] = concurrent.futures.Future()
    _PLAN_JOBS.put((done, functools.partial(contextvars.Context().run, run, *args)))
    return done.result()


_PlanJob = tuple["concurrent.futures.Future[Plan]", Callable[[], Plan]]


def _serve_plans(jobs: queue.SimpleQueue[_PlanJob]) -> None:
    """The plan thread: its event loop (the SDK creates futures before it runs one, in
    `set_mocks`, and only the main thread gets a loop without asking), then one job at a time.
    Its own loop rather than a ThreadPoolExecutor's worker: two frames fewer under every
    registration."""
    import asyncio

    asyncio.set_event_loop(asyncio.new_event_loop())
    while True:
        done, run = jobs.get()
        if not done.set_running_or_notify_cancel():
            continue
        try:
            done.set_result(run())
        except BaseException as exc:  # handed to the waiting caller
            done.set_exception(exc)


def _start_plan_thread() -> None:
    """Start the plan thread on the first plan, not at import. A thread started while the import
    still runs does its own start-up (`import asyncio`, the event loop) beside it, and
    `python -X importtime` booked that as offline.engine's own time (~80-120 ms instead of
    ~10 ms; "its output may be broken in multi-threaded application", docs.python.org/3/using/
    cmdline.html, `-X importtime`); a process that imports the engine without planning never
    needs the thread. `ident` is set once `start()` returns; the lock keeps two first callers
    from starting it twice (a Thread starts once)."""
    if _PLAN_THREAD.ident is not None:
        return
    with _PLAN_THREAD_START:
        if _PLAN_THREAD.ident is None:
            _PLAN_THREAD.start()


_PLAN_JOBS: queue.SimpleQueue[_PlanJob] = queue.SimpleQueue()
_PLAN_THREAD = threading.Thread(
    target=_serve_plans, args=(_PLAN_JOBS,), name="offline-plan", daemon=True
)
_PLAN_THREAD_START = threading.Lock()


def try_plan(stack: str, overrides: Mapping[str, Any] | None = None, **kwargs: Any) -> Plan:
    """Like plan_stack, but returns the (partial) plan with `error` set instead of raising."""
    try:
        return plan_stack(stack, overrides, **kwargs)
    except PlanFailed as failed:
        return failed.plan


def stacks(repo: Path = REPO_ROOT) -> list[str]:
    return pulumi_project.stacks(repo)
