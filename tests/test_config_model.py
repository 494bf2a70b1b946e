"""The stack-config model: the real stacks, derived facts, the config read path, and fuzzing.

Fuzzing calls `parse_platform_config` directly (no program run) and is deterministic
(`derandomize=True`, no example database), so CI sees the same examples every run.
"""

from __future__ import annotations

import contextvars
import ipaddress
import json
import string
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from components.config import (
    StackConfigError,
    load_stack_config,
    parse_platform_config,
    read_raw_config,
)
from components.facts import EU_REGIONS, GCP_REGIONS, ClusterRole, Residency, Stage
from offline.engine import delivered_config, stacks
from tests.config_cases import PathPart, base_config, key_path, raw_of

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # Every phase but `explain` (which only annotates a failing example with the parts that
    # may vary): Hypothesis 6.155.2's explain pass crashes (`assert span1.start <= start`,
    # shrinker.py) on the spans of the `joined` strategies below, and the crash replaced the
    # shrunk failing example in the report.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)

STG = "staging"
PROD = "prod-eu"
T = TypeVar("T")


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(StackConfigError) as error:
        parse_platform_config(raw)
    assert error.value.problems, "a StackConfigError must list its problems"
    return error.value.problems


# -- the real stacks ---------------------------------------------------------------------------
def test_both_real_stacks_are_known() -> None:
    assert {STG, PROD} <= set(stacks())


@pytest.mark.parametrize("stack", [STG, PROD])
def test_real_stack_parses(stack: str) -> None:
    config = parse_platform_config(raw_of(stack))
    assert config.environment == stack
    assert config.residency is Residency.EU
    assert set(config.allowed_regions) <= EU_REGIONS
    assert config.global_cluster.role is ClusterRole.GLOBAL
    assert config.global_cluster.kuma_zone is None
    assert all(c.kuma_zone for c in config.zone_clusters)
    assert config.secret(config.gitops.credentials_secret).external is not None


def test_staging_facts() -> None:
    config = parse_platform_config(raw_of(STG))
    assert config.stage is Stage.STAGING
    assert not config.is_prod
    assert config.protected is False
    assert config.project == "acme-platform-staging"
    assert config.region == "europe-west1"
    assert config.global_cluster.name == "stg-global"
    assert [c.name for c in config.zone_clusters] == ["stg-zone-ew1"]
    assert config.regions_in_use == ["europe-west1"]
    assert config.resource_labels == {
        "team": "platform",
        "cost-center": "cc-4120",
        "environment": "staging",
        "stage": "staging",
        "managed-by": "pulumi",
    }
    # Defaults filled in for keys the stack file leaves out.
    assert config.network.routing_mode == "GLOBAL"
    assert config.clusters[0].node_pools[0].disk_type == "pd-balanced"
    assert config.clusters[1].node_pools[0].disk_size_gb == 100


def test_prod_facts() -> None:
    config = parse_platform_config(raw_of(PROD))
    assert config.stage is Stage.PROD
    assert config.is_prod
    assert config.protected is True
    assert config.global_cluster.name == "prod-global"
    assert [c.name for c in config.zone_clusters] == ["prod-zone-ew1", "prod-zone-ew4"]
    assert [c.kuma_zone for c in config.zone_clusters] == ["prod-ew1", "prod-ew4"]
    assert config.regions_in_use == ["europe-west1", "europe-west4"]
    assert config.resource_labels["environment"] == "prod-eu"
    assert config.resource_labels["stage"] == "prod"
    assert config.resource_labels["managed-by"] == "pulumi"
    assert config.resource_labels["cost-center"] == "cc-4100"


@pytest.mark.parametrize(
    ("stack", "protect", "expected"),
    [
        (STG, None, False),
        (STG, True, True),
        (STG, False, False),
        (PROD, None, True),
        (PROD, True, True),
    ],
)
def test_protected_by_stage_unless_explicit(stack: str, protect: bool | None, expected: bool):
    raw = raw_of(stack)
    raw["protect"] = protect
    assert parse_platform_config(raw).protected is expected


def test_prod_cannot_be_unprotected() -> None:
    raw = raw_of(PROD)
    raw["protect"] = False
    assert problems(raw) == [
        "platform:protect: a prod stack is always protected; to decommission it, run "
        "`pulumi state unprotect --all -s <stack>` on purpose instead"
    ]


def test_user_labels_may_not_take_the_platforms_keys() -> None:
    raw = raw_of(STG)
    raw["labels"] = {"stage": "prod", "team": "x"}
    assert problems(raw) == [
        "platform:labels: label key 'stage' is set by the platform itself; choose another key"
    ]
    raw["labels"] = {"team": "x"}
    assert parse_platform_config(raw).resource_labels == {
        "team": "x",
        "environment": "staging",
        "stage": "staging",
        "managed-by": "pulumi",
    }


def test_model_is_frozen() -> None:
    config = parse_platform_config(raw_of(STG))
    with pytest.raises(ValueError, match="frozen"):
        config.stage = Stage.PROD


@pytest.mark.parametrize("stack", [STG, PROD])
def test_real_stack_round_trips(stack: str) -> None:
    config = parse_platform_config(raw_of(stack))
    assert parse_platform_config(config.model_dump(by_alias=True)) == config
    assert parse_platform_config(json.loads(config.model_dump_json(by_alias=True))) == config


# -- the config read path ----------------------------------------------------------------------
def engine_config(config: dict[str, Any]) -> dict[str, str]:
    """What the Pulumi engine hands the program: structured values as JSON text."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def in_fresh_context(config: dict[str, str], read: Callable[[], T]) -> T:
    """Set the runtime config (and the stack name, which must match the environment) in a
    private context, restoring the stack name after, so no global state leaks between tests."""
    from pulumi.runtime.settings import _set_stack, get_stack

    def run() -> T:
        previous = get_stack()
        _set_stack(config.get("platform:environment", previous))
        try:
            with delivered_config(config):
                return read()
        finally:
            _set_stack(previous)

    return contextvars.Context().run(run)


@pytest.mark.parametrize("stack", [STG, PROD])
def test_read_raw_config_decodes_structured_values(stack: str) -> None:
    config = base_config(stack)
    raw = in_fresh_context(engine_config(config), read_raw_config)
    assert raw == raw_of(stack)
    assert isinstance(raw["clusters"], list)
    assert raw["clusters"][0]["ranges"]["controlPlane"].endswith("/28")
    assert raw["labels"]["team"] == "platform"
    assert raw["stage"] == config["platform:stage"]
    assert raw["project"] == config["gcp:project"]
    assert "gcp:project" not in raw


@pytest.mark.parametrize("stack", [STG, PROD])
def test_load_stack_config_equals_parse_of_the_stack_file(stack: str) -> None:
    loaded = in_fresh_context(engine_config(base_config(stack)), load_stack_config)
    assert loaded == parse_platform_config(raw_of(stack))


def test_read_raw_config_scalars() -> None:
    config = base_config(STG)
    config["platform:protect"] = True  # the engine sends "true"
    config["platform:environment"] = "staging"  # plain text is not JSON: stays a string
    config["other:clusters"] = []  # another namespace is not read
    raw = in_fresh_context(engine_config(config), read_raw_config)
    assert raw["protect"] is True
    assert raw["environment"] == "staging"
    assert in_fresh_context(engine_config(config), load_stack_config).protected is True


def test_project_and_region_under_platform_are_unknown_keys() -> None:
    """`platform:region` is not a synonym of gcp:region: reported, not silently dropped or used."""
    config = base_config(STG)
    config["platform:region"] = "europe-west4"
    del config["gcp:region"]
    raw = in_fresh_context(engine_config(config), read_raw_config)
    assert raw["platform:region"] == "europe-west4"
    assert "region" not in raw
    with pytest.raises(StackConfigError) as error:
        in_fresh_context(engine_config(config), load_stack_config)
    assert sorted(error.value.problems) == [
        "gcp:region: required key is missing",
        "platform:region: unknown key (a typo? see docs/configuration.md for the accepted keys)",
    ]


def test_unknown_platform_key_from_the_engine_is_rejected() -> None:
    config = base_config(PROD)
    config["platform:clustres"] = config["platform:clusters"]
    with pytest.raises(StackConfigError) as error:
        in_fresh_context(engine_config(config), load_stack_config)
    assert error.value.problems == [
        "platform:clustres: unknown key (a typo? see docs/configuration.md for the accepted keys)"
    ]


def test_runtime_config_does_not_leak_out_of_the_context() -> None:
    from pulumi.runtime.config import CONFIG

    before = dict(CONFIG.get())
    in_fresh_context(engine_config(base_config(STG)), read_raw_config)
    assert dict(CONFIG.get()) == before


# -- strategies --------------------------------------------------------------------------------
EU = sorted(EU_REGIONS)
NETWORK_10 = ipaddress.IPv4Network("10.0.0.0/8")
NETWORK_172 = ipaddress.IPv4Network("172.16.0.0/12")
SIZES = {"nodes": (14, 29), "pods": (14, 24), "services": (14, 27)}  # (largest, smallest) prefix
RANGE_KEYS = ("nodes", "pods", "services", "controlPlane")

# Drawing a config, not checking it, is most of these tests' CPU, and Hypothesis charges per
# strategy object as well as per draw: a strategy made during a draw is a new object whose
# label, validity and emptiness are computed afresh (`SearchStrategy.validate`, `.label` and
# `recursive_property` in hypothesis/strategies/_internal/strategies.py), and only the
# `@cacheable` strategy functions (strategies/_internal/utils.py) hand back an old object for
# the same arguments: `st.sampled_from`, `st.permutations` and `.filter` never do. So the
# strategies below are built once, at import, and a choice among a drawn list draws an index
# into it (the one integer `st.sampled_from` itself draws).

# The string strategies below generate exactly the language of the regex in their comment, built
# from `st.text` and `st.sampled_from` instead of `st.from_regex`: from_regex draws one choice per
# character (plus group bookkeeping), which made generating a config most of these tests' CPU,
# while `st.text` draws a whole string as one choice. Only the distribution over the same set of
# strings changes: each strategy still reaches every string of its regex, and nothing outside it.
LOWER = string.ascii_lowercase
LOWER_DIGITS = LOWER + string.digits
LETTERS = st.sampled_from(LOWER)


def joined(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map("".join)


# [a-z]([-a-z0-9]{0,18}[a-z0-9])?, i.e. a letter and then up to 19 of [-a-z0-9] not ending in
# "-": the rstrip maps each such tail to itself, and any other tail to one of them.
names = st.tuples(LETTERS, st.text(LOWER_DIGITS + "-", max_size=19)).map(
    lambda parts: parts[0] + parts[1].rstrip("-")
)
# [A-Za-z0-9_-]{1,40}
secret_ids = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=40)
# [a-z][a-z0-9_-]{0,20}
label_keys = joined(LETTERS, st.text(LOWER_DIGITS + "_-", max_size=20))
# [a-z0-9_-]{0,20}
label_values = st.text(LOWER_DIGITS + "_-", max_size=20)
# [a-z][-a-z0-9]{4,20}[a-z0-9]
projects = joined(
    LETTERS,
    st.text(LOWER_DIGITS + "-", min_size=4, max_size=20),
    st.sampled_from(LOWER_DIGITS),
)

MAX_CLUSTERS = 4
MAX_SECRETS = 4
BOOLEANS = st.booleans()
# An index into a list of n items, for n up to the longest list a config draws from.
INDEXES = {n: st.integers(0, n - 1) for n in range(1, MAX_CLUSTERS + 1)}
# 1..n distinct indexes into a list of n items, in any order.
SOME_INDEXES = {
    n: st.lists(st.sampled_from(range(n)), min_size=1, max_size=n, unique=True)
    for n in range(1, MAX_CLUSTERS + 1)
}
REGION_POOLS = {"eu": EU, "any": sorted(GCP_REGIONS)}
RESIDENCIES = st.sampled_from(list(REGION_POOLS))
ALLOWED_REGIONS = {
    residency: st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True)
    for residency, pool in REGION_POOLS.items()
}
ORG_STORAGE_LOCATIONS = st.sampled_from(EU)
CLUSTER_COUNTS = st.integers(2, MAX_CLUSTERS)
DISTINCT_NAMES = {
    n: st.lists(names, min_size=n, max_size=n, unique=True) for n in range(1, MAX_CLUSTERS + 1)
}
# Each cluster's own /12 of 10.0.0.0/8, split into the /14s its ranges come from.
QUARTERS = [list(block.subnets(new_prefix=14)) for block in NETWORK_10.subnets(new_prefix=12)]
# Distinct blocks (indexes into QUARTERS) and distinct /28s of 172.16.0.0/12, per cluster count
# (every /28 of the /12 is a valid control-plane range; before, only the first 4,096, i.e.
# 172.16.0.0/16, were drawn: the space only grew).
# Sampled: `st.lists(unique=True)` draws distinct items by index only from `st.sampled_from` (or
# `st.integers` over at most 256 values), else it redraws each item under a uniqueness filter,
# several times slower here (`lists` in strategies/_internal/core.py).
DISTINCT_BLOCKS = {
    n: st.lists(st.sampled_from(range(len(QUARTERS))), min_size=n, max_size=n, unique=True)
    for n in range(2, MAX_CLUSTERS + 1)
}
DISTINCT_CONTROL_PLANES = {
    n: st.lists(st.sampled_from(range(2 ** (28 - 12))), min_size=n, max_size=n, unique=True)
    for n in range(2, MAX_CLUSTERS + 1)
}
PREFIXES = {key: st.integers(largest, smallest) for key, (largest, smallest) in SIZES.items()}
SUBNETS_OF_A_QUARTER = {prefix: st.integers(0, 2 ** (prefix - 14) - 1) for prefix in range(14, 30)}
POOL_NAMES = st.lists(names, min_size=1, max_size=3, unique=True)
MAX_NODES = {True: st.integers(3, 50), False: st.integers(1, 50)}  # by "is the first pool"
MACHINE_TYPES = st.sampled_from(["e2-standard-4", "n2-highmem-8", "t2d-standard-2"])
RELEASE_CHANNELS = st.sampled_from(["RAPID", "REGULAR", "STABLE"])
# Tuples, listed afresh per draw: a drawn config is the test's to mutate.
READERS = st.sampled_from([(), ("shop",)])
SECRET_ID_LISTS = st.lists(secret_ids, min_size=1, max_size=MAX_SECRETS, unique=True)
SECRET_LENGTHS = st.integers(16, 128)
STAGES = st.sampled_from(["staging", "prod"])
EXCLUSION_SCOPES = st.sampled_from(["NO_UPGRADES", "NO_MINOR_UPGRADES"])
PROJECT_NUMBERS = st.integers(min_value=1, max_value=10**15)
LABELS = st.dictionaries(label_keys, label_values, max_size=4)
PROTECT = {
    "prod": st.sampled_from([None, True]),
    "staging": st.sampled_from([None, True, False]),
}


def pick(draw: st.DrawFn, items: list[T]) -> T:
    return items[draw(INDEXES[len(items)])]


def cluster_ranges(draw: st.DrawFn, block: int, cp_index: int) -> dict[str, str]:
    """nodes/pods/services carved from separate /14s of a cluster's own /12, plus a /28."""
    ranges: dict[str, str] = {}
    for quarter, key in zip(QUARTERS[block], SIZES, strict=False):
        prefix = draw(PREFIXES[key])
        index = draw(SUBNETS_OF_A_QUARTER[prefix])
        ranges[key] = str(
            ipaddress.IPv4Network(
                (int(quarter.network_address) + index * 2 ** (32 - prefix), prefix)
            )
        )
    ranges["controlPlane"] = str(
        ipaddress.IPv4Network((int(NETWORK_172.network_address) + cp_index * 16, 28))
    )
    return ranges


def node_pools(draw: st.DrawFn) -> list[dict[str, Any]]:
    pools = []
    for index, name in enumerate(draw(POOL_NAMES)):
        # The first pool is a standard one able to hold a prod control plane (one node per zone,
        # components/config_model.py `_control_plane_capacity`); the others are anything valid.
        first = index == 0
        max_nodes = draw(MAX_NODES[first])
        pool: dict[str, Any] = {
            "name": name,
            "minNodes": draw(st.integers(3 if first else 0, max_nodes)),  # @cacheable: reused
            "maxNodes": max_nodes,
        }
        if draw(BOOLEANS):
            pool["machineType"] = draw(MACHINE_TYPES)
        if draw(BOOLEANS):
            pool["spot"] = False if first else draw(BOOLEANS)
        pools.append(pool)
    return pools


@st.composite
def valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid raw config: 2-4 clusters (one global), disjoint CIDRs, EU regions, valid secrets."""
    residency = draw(RESIDENCIES)
    allowed = draw(ALLOWED_REGIONS[residency])
    count = draw(CLUSTER_COUNTS)
    cluster_names = draw(DISTINCT_NAMES[count])
    zone_names = draw(DISTINCT_NAMES[count - 1])
    blocks = draw(DISTINCT_BLOCKS[count])
    cp_indexes = draw(DISTINCT_CONTROL_PLANES[count])
    clusters = []
    for i in range(count):
        cluster: dict[str, Any] = {
            "name": cluster_names[i],
            "role": "global" if i == 0 else "zone",
            "region": pick(draw, allowed),
            "ranges": cluster_ranges(draw, blocks[i], cp_indexes[i]),
            "nodePools": node_pools(draw),
        }
        if i:
            cluster["kumaZone"] = zone_names[i - 1]
        if draw(BOOLEANS):
            cluster["releaseChannel"] = draw(RELEASE_CHANNELS)
        clusters.append(cluster)
    # The global cluster need not come first. Moving it anywhere reaches every order that
    # `st.permutations` did: the zone clusters are drawn alike, so their order is already free.
    clusters.insert(draw(INDEXES[count]), clusters.pop(0))
    credentials, *other_ids = draw(SECRET_ID_LISTS)
    secrets: list[dict[str, Any]] = []
    for secret_id in other_ids:
        generated: dict[str, Any] = {"length": draw(SECRET_LENGTHS)}
        if draw(BOOLEANS):
            generated["special"] = True
        secrets.append({"id": secret_id, "readers": list(draw(READERS)), "generated": generated})
    # The git token anywhere among the other secrets (as with `clusters`, their order is free).
    secrets.insert(
        draw(INDEXES[len(secrets) + 1]),
        {"id": credentials, "readers": ["flux-system"], "external": {"description": "git token"}},
    )
    stage = draw(STAGES)
    for cluster in clusters:
        # Prod clusters need a maintenance window; other stages may have one.
        if stage == "prod" or draw(BOOLEANS):
            cluster["maintenance"] = {
                "window": {
                    "startTime": "2026-01-03T01:00:00Z",
                    "endTime": "2026-01-03T07:00:00Z",
                    "recurrence": "FREQ=WEEKLY;BYDAY=SA,SU",
                },
                "exclusions": [
                    {
                        "name": "freeze",
                        "startTime": "2026-12-18T00:00:00+01:00",
                        "endTime": "2027-01-04T00:00:00Z",
                        "scope": draw(EXCLUSION_SCOPES),
                    }
                ],
            }
    raw: dict[str, Any] = {
        "project": draw(projects),
        "projectNumber": draw(PROJECT_NUMBERS),
        "region": pick(draw, allowed),
        "environment": draw(names),
        "stage": stage,
        "residency": residency,
        "allowedRegions": allowed,
        "secretReplicaRegions": [allowed[i] for i in draw(SOME_INDEXES[len(allowed)])],
        "clusters": clusters,
        "secrets": secrets,
        "tenants": [{"namespace": "shop"}],
        "gitops": {
            "repositoryUrl": "https://github.com/acme/x.git",
            "credentialsSecret": credentials,
        },
        "labels": draw(LABELS),
        "logging": {
            "bucketLocation": pick(draw, allowed),
            "orgStorageLocation": draw(ORG_STORAGE_LOCATIONS),
        },
        "authorizedNetworks": [{"displayName": "vpn", "cidr": "192.168.0.0/24"}],
    }
    protect = draw(PROTECT[stage])
    if protect is not None:
        raw["protect"] = protect
    return raw


# -- (a) valid configs parse and round-trip ----------------------------------------------------
@FUZZ
@given(valid_configs())
def test_generated_valid_configs_parse_and_round_trip(raw: dict[str, Any]) -> None:
    # Expected before parsing: configs are parsed as they are, not copied (parse_platform_config
    # takes a read-only Mapping), so read nothing the parse might have changed.
    protected = raw.get("protect", raw["stage"] == "prod")
    config = parse_platform_config(raw)
    assert parse_platform_config(config.model_dump(by_alias=True)) == config
    assert parse_platform_config(json.loads(config.model_dump_json(by_alias=True))) == config
    assert config.global_cluster.role is ClusterRole.GLOBAL
    assert len(config.zone_clusters) == len(config.clusters) - 1
    assert set(config.regions_in_use) <= set(config.allowed_regions)
    assert config.protected is protected
    assert config.resource_labels["managed-by"] == "pulumi"


# -- (b) arbitrary mutations fail only with StackConfigError, naming keys -----------------------
def _all_models() -> Iterator[type[BaseModel]]:
    import components.config as module

    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
            yield value


KNOWN_KEYS = frozenset(
    key
    for model in _all_models()
    for name, field in model.model_fields.items()
    for key in (name, field.alias)
    if key
)


def mapping_paths(node: Any, path: tuple[PathPart, ...] = ()) -> Iterator[tuple[PathPart, ...]]:
    """Paths of every key of every model mapping (labels are free-form, not model keys)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key)
            if key != "labels":
                yield from mapping_paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from mapping_paths(value, (*path, i))


def leaf_paths(node: Any, path: tuple[PathPart, ...] = ()) -> Iterator[tuple[PathPart, ...]]:
    if path:
        yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaf_paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaf_paths(value, (*path, i))


def get_at(node: Any, path: tuple[PathPart, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


TYPO_KINDS = st.sampled_from(["drop", "double", "swap-case", "suffix", "prefix"])
TYPO_SUFFIXES = st.sampled_from(["s", "_", "X", "1"])


def typo(data: st.DataObject, key: str) -> str:
    kind = data.draw(TYPO_KINDS)
    i = data.draw(st.integers(0, len(key) - 1))
    if kind == "drop" and len(key) > 1:
        return key[:i] + key[i + 1 :]
    if kind == "double":
        return key[:i] + key[i] + key[i:]
    if kind == "swap-case":
        return key[:i] + key[i].swapcase() + key[i + 1 :]
    if kind == "prefix":
        return data.draw(LETTERS) + key
    return key + data.draw(TYPO_SUFFIXES)


def assert_well_formed(found: list[str]) -> None:
    assert found
    for problem in found:
        assert problem.startswith(("platform:", "gcp:")), problem
        key, sep, message = problem.partition(": ")
        assert sep and key and message.strip(), problem
        assert "\n" not in problem


def try_parse(raw: dict[str, Any]) -> list[str] | None:
    """None when the config parses; its problems when it does not; anything else propagates."""
    try:
        parse_platform_config(raw)
    except StackConfigError as error:
        assert_well_formed(error.problems)
        return error.problems
    return None


@FUZZ
@given(valid_configs(), st.data())
def test_a_typo_at_any_depth_is_reported_as_an_unknown_key(
    raw: dict[str, Any], data: st.DataObject
):
    path = data.draw(st.sampled_from(list(mapping_paths(raw))))
    *parent_path, key = path
    assert isinstance(key, str)
    new_key = typo(data, key)
    parent = get_at(raw, tuple(parent_path))
    assume(new_key not in KNOWN_KEYS and new_key not in parent)
    parent[new_key] = parent.pop(key)
    found = try_parse(raw)
    assert found is not None, f"the typo {key!r} -> {new_key!r} was silently accepted"
    assert f"{key_path((*parent_path, new_key))}: unknown key" in " | ".join(found)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


@FUZZ
@given(st.sampled_from([STG, PROD]) | valid_configs(), st.data())
def test_random_mutations_only_ever_raise_stack_config_error(raw: Any, data: st.DataObject):
    if isinstance(raw, str):
        raw = raw_of(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(leaf_paths(raw))))
        *parent_path, last = path
        parent = get_at(raw, tuple(parent_path))
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[last]
        else:
            parent[last] = data.draw(json_values)
    try_parse(raw)  # parses, or StackConfigError with well-formed problems; nothing else


region_strings = (
    st.sampled_from(sorted(GCP_REGIONS))
    # (europe|us|asia|eu|mars)-(west|east|central|north)[0-9]{1,2}: near misses of real regions,
    # the same language as that regex (see `names` for why not st.from_regex)
    | joined(
        st.sampled_from(["europe", "us", "asia", "eu", "mars"]),
        st.just("-"),
        st.sampled_from(["west", "east", "central", "north"]),
        st.text(string.digits, min_size=1, max_size=2),
    )
    | st.text(alphabet=string.ascii_lowercase + string.digits + "- ", max_size=20)
)


def region_slots(raw: dict[str, Any]) -> list[tuple[PathPart, ...]]:
    slots: list[tuple[PathPart, ...]] = [("region",)]
    slots += [("clusters", i, "region") for i in range(len(raw["clusters"]))]
    slots += [("allowedRegions", i) for i in range(len(raw["allowedRegions"]))]
    slots += [("secretReplicaRegions", i) for i in range(len(raw["secretReplicaRegions"]))]
    return slots


@FUZZ
@given(valid_configs(), st.data())
def test_random_region_strings(raw: dict[str, Any], data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(region_slots(raw)))
    region = data.draw(region_strings)
    *parent_path, last = path
    get_at(raw, tuple(parent_path))[last] = region
    outside_allowed = region.strip() not in raw["allowedRegions"]  # before the uncopied parse
    found = try_parse(raw)
    key = key_path(tuple(parent_path) if isinstance(last, int) else path)
    if region.strip() not in GCP_REGIONS:
        assert found is not None, f"{region!r} accepted as a region"
        assert any(p.startswith((f"{key}: ", f"{key}[")) and "region" in p for p in found), found
    elif path[0] != "allowedRegions" and outside_allowed:
        assert found is not None, f"{region!r} accepted outside allowedRegions"
        assert f"{key}: {region.strip()!r} is not in allowedRegions" in " | ".join(found)


# -- (c) overlapping ranges are reported naming both keys --------------------------------------
def overlapping(
    network: ipaddress.IPv4Network, key: str, data: st.DataObject
) -> ipaddress.IPv4Network:
    """A network valid for `key`'s size rule that overlaps `network`."""
    largest, smallest = SIZES.get(key, (28, 28))
    prefix = data.draw(st.integers(max(largest, 12), smallest))
    if prefix <= network.prefixlen:
        return network.supernet(new_prefix=prefix)
    subnets = 2 ** (prefix - network.prefixlen)
    index = data.draw(st.integers(0, subnets - 1))
    return ipaddress.IPv4Network(
        (int(network.network_address) + index * 2 ** (32 - prefix), prefix)
    )


@FUZZ
@given(valid_configs(), st.data())
def test_overlapping_ranges_are_reported_naming_both_keys(raw: dict[str, Any], data: st.DataObject):
    slots = [(i, key) for i in range(len(raw["clusters"])) for key in RANGE_KEYS]
    (i, key_a), (j, key_b) = data.draw(
        st.lists(st.sampled_from(slots), min_size=2, max_size=2, unique=True)
    )
    net_a = ipaddress.IPv4Network(raw["clusters"][i]["ranges"][key_a])
    net_b = overlapping(net_a, key_b, data)
    raw["clusters"][j]["ranges"][key_b] = str(net_b)
    found = try_parse(raw)
    assert found is not None, f"{net_b} overlaps {net_a} but was accepted"
    a, b = f"clusters[{i}].ranges.{key_a}", f"clusters[{j}].ranges.{key_b}"
    assert any(
        (p.startswith(f"platform:{b}: ") and f"overlaps {a} {net_a}" in p)
        or (p.startswith(f"platform:{a}: ") and f"overlaps {b} {net_b}" in p)
        for p in found
    ), found
    assert all("every range must be disjoint" in p for p in found), found
