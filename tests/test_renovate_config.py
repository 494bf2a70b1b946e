"""renovate.json against Renovate's own configuration schema, plus the cheap checks of Renovate's
validator that the schema does not express.

The schema is the `renovate` npm package's ``renovate-schema.json`` (the file
https://docs.renovatebot.com/renovate-schema.json serves, which renovate.json's ``$schema``
names), committed in offline/refs with its version and npm integrity
(scripts/refresh_offline_refs.py ``RENOVATE_SCHEMA``, ``make refresh-refs``).

The schema (draft-07) never sets ``additionalProperties`` on an option object, so on its own it
accepts any misspelt key. Renovate itself rejects them: ``validateConfig`` in
``dist/config/validation.js`` (lib/config/validation.ts) reports every key that is no option
("Invalid configuration option") and every option used outside its ``parents`` (a warning, which
fails ``renovate-config-validator`` too: dist/config-validator.js ``validate``). The schema records
``parents``: an option with parents is listed in ``definitions.<parent>.items.allOf[0].properties``
and at the top level only if ``.`` is one of them (checked once against renovate 44.121.2's
``dist/config/options/index.js``, every option, both directions; only ``description`` and
``overrideDescription``, which have no parents, are listed in every parent as well).
``key_problems`` applies that.

Not checked here (Renovate resolves them only when it runs): the presets in ``extends``
(``config:recommended`` and ``helpers:pinGitHubActionDigestsToSemver`` exist in 44.121.2:
dist/config/presets/internal/helpers.preset.js, and neither is in the ``removedPresets`` that
``ExtendsMigration`` rewrites, dist/config/presets/common.js), templates, schedules, and whether a
datasource or versioning named inside a ``# renovate:`` comment exists.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.test_refresh_refs import refresh
from tests.test_renovate import CONFIG, js_regex

ROOT = Path(__file__).resolve().parent.parent
REFS = ROOT / "offline" / "refs"
SCHEMA_REL = f"{refresh.LICENCE_DIR[refresh.RENOVATE_SCHEMA.licence]}/{refresh.RENOVATE_SCHEMA.out}"
SCHEMA: dict[str, Any] = json.loads((REFS / SCHEMA_REL).read_text(encoding="utf-8"))
DEFINITIONS: dict[str, Any] = SCHEMA["definitions"]


def children(parent: str) -> frozenset[str]:
    """The options the schema lists inside `parent` (an object or the items of an array)."""
    items = DEFINITIONS.get(parent, {}).get("items")
    if not isinstance(items, dict) or "allOf" not in items:  # e.g. an array of strings
        return frozenset()
    return frozenset(items["allOf"][0].get("properties", {}))


TOP_LEVEL = frozenset(SCHEMA["properties"])
# Options with `parents` (options/index.ts): allowed only inside the parents that list them
# (description and overrideDescription are in here too, and every parent lists them).
PARENTED = frozenset().union(*(children(name) for name in DEFINITIONS))
# validation.js `ignoredNodes` that can occur in a repository config file.
IGNORED_TOP_LEVEL = frozenset({"$schema"})
CUSTOM_TYPES: tuple[str, ...] = tuple(DEFINITIONS["customType"]["enum"])
# Every manager has its own object whose options include managerFilePatterns.
MANAGERS = frozenset(
    name
    for name in DEFINITIONS
    if "managerFilePatterns" in children(name) and name != "customManagers"
)
# validation.js: a packageRule needs one of these (an error) and one other option (a warning).
SELECTORS = frozenset(name for name in children("packageRules") if name.startswith("match"))
# validation.js `preLookupOptions`: not with matchUpdateTypes / matchIsBreaking (an error).
PRE_LOOKUP_OPTIONS = (
    "allowedVersions",
    "extractVersion",
    "followTag",
    "ignoreDeps",
    "ignoreUnstable",
    "rangeStrategy",
    "registryUrls",
    "respectLatest",
    "rollbackPrs",
    "separateMajorMinor",
    "separateMinorPatch",
    "separateMultipleMajor",
    "separateMultipleMinor",
    "versioning",
)
# validation-helpers/utils.js `validateRegexManagerFields`: each group, or its `<field>Template`.
REGEX_MANAGER_FIELDS: tuple[tuple[str, ...], ...] = (
    ("datasource",),
    ("currentValue", "currentDigest"),
    ("depName", "packageName"),
)


@functools.cache
def validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(SCHEMA)
    cls.check_schema(SCHEMA)
    return cls(SCHEMA)


# --------------------------------------------------------------------------- the checks


def schema_problems(config: dict[str, Any]) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator().iter_errors(config)]


def allowed_keys(parent: str) -> frozenset[str]:
    """What validation.js accepts directly inside `parent` (`.` is the top level)."""
    if parent == ".":
        return TOP_LEVEL | IGNORED_TOP_LEVEL
    if parent == "customManagers":
        # validation.js has its own `allowedKeys` list here: the schema's, but overrideDescription.
        return children(parent)
    # validation.js `topLevelObjects`: the manager objects and `env` only at the top level.
    return children(parent) | (TOP_LEVEL - PARENTED - MANAGERS - {"env"})


def objects(
    node: dict[str, Any], parent: str = ".", path: str = "$"
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, parent name, object) for the config and every object validation.js recurses into
    (as its `getParentName` names them): an option whose children the schema lists, the
    elements of an array option."""
    yield path, parent, node
    for key, value in node.items():
        if isinstance(value, dict) and children(key):
            yield from objects(value, key, f"{path}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    yield from objects(item, key, f"{path}.{key}[{i}]")


def key_problems(config: dict[str, Any]) -> list[str]:
    return [
        f"{path}.{key}: not an option Renovate accepts in {parent}"
        for path, parent, node in objects(config)
        for key in node
        if key not in allowed_keys(parent)
    ]


def manager_name_problems(config: dict[str, Any]) -> list[str]:
    """enabledManagers / matchManagers name managers as Renovate writes them: validation.js
    `getUnsupportedEnabledManagers`, and EnabledManagersMigration / MatchManagersMigration
    (dist/config/migrations/custom) rewrite `regex`, `yarn`, `renovate-config-presets`."""
    known = MANAGERS | {f"custom.{t}" for t in CUSTOM_TYPES}
    return [
        f"{path}.{key}: unknown manager {name!r}"
        for path, _, node in objects(config)
        for key in ("enabledManagers", "matchManagers")
        for name in node.get(key, [])
        if name not in known
    ]


def renovate_pattern(value: str) -> re.Pattern[str] | None:
    """A pattern option's value as Renovate parses it (dist/util/string-match.js `isRegexMatch`,
    `parseRegexMatch`): `/re/`, `/re/i`, `!/re/` are RE2 regexes, anything else is a glob."""
    if not (re.match(r"^!?/", value) and re.search(r"/i?$", value)):
        return None
    body = re.sub(r"/i?$", "", re.sub(r"^!?/", "", value))
    pattern = js_regex(body)
    return re.compile(pattern.pattern, re.I) if value.endswith("i") else pattern


def pattern_problems(config: dict[str, Any]) -> list[str]:
    """managerFilePatterns and the match* selectors: each `/regex/` compiles under RE2's rules
    (regex-glob-matchers.js `check`, validation.js for matchCurrentVersion / matchCurrentValue /
    matchNewValue / allowedVersions), and `*` or `**` stands alone."""
    found = []
    for path, _, node in objects(config):
        for key, value in node.items():
            if not (key == "managerFilePatterns" or key in SELECTORS or key == "allowedVersions"):
                continue
            values = value if isinstance(value, list) else [value]
            strings = [item for item in values if isinstance(item, str)]
            if isinstance(value, list) and len(value) > 1 and {"*", "**"} & set(strings):
                found.append(f"{path}.{key}: `*` or `**` with other patterns")
            for item in strings:
                try:
                    renovate_pattern(item)
                except (AssertionError, re.error) as err:
                    found.append(f"{path}.{key}: {item!r} is no RE2 regex ({err})")
    return found


def custom_manager_problems(config: dict[str, Any]) -> list[str]:
    """validation.js for each customManagers entry, and validateRegexManagerFields."""
    found = []
    for i, manager in enumerate(config.get("customManagers", [])):
        where = f"$.customManagers[{i}]"
        if not manager.get("managerFilePatterns"):
            found.append(f"{where}: needs a non-empty managerFilePatterns")
        if manager.get("customType") != "regex":
            continue
        match_strings: list[str] = manager.get("matchStrings") or []
        if not match_strings:
            found.append(f"{where}: needs at least one matchStrings entry")
        for match_string in match_strings:
            try:
                js_regex(match_string)
            except (AssertionError, re.error) as err:
                found.append(f"{where}: {match_string!r} is no RE2 regex ({err})")
            if "(?<lookupName>" in match_string:  # MatchStringsMigration rewrites it
                found.append(f"{where}: `(?<lookupName>` is migrated to `(?<packageName>`")
        for fields in REGEX_MANAGER_FIELDS:
            if not any(
                manager.get(f"{field}Template") is not None
                or any(f"(?<{field}>" in s for s in match_strings)
                for field in fields
            ):
                found.append(f"{where}: no {' or '.join(fields)} group or template")
    return found


def package_rule_problems(config: dict[str, Any]) -> list[str]:
    found = []
    for i, rule in enumerate(config.get("packageRules", [])):
        where = f"$.packageRules[{i}]"
        selectors = SELECTORS & set(rule)
        if not selectors:
            found.append(f"{where}: no match* selector")
        if selectors and not set(rule) - selectors:  # a description counts as an option there
            found.append(f"{where}: only selectors")
        post_lookup = [s for s in ("matchUpdateTypes", "matchIsBreaking") if s in rule]
        for option in PRE_LOOKUP_OPTIONS:
            if post_lookup and option in rule:
                found.append(f"{where}: {post_lookup[0]} cannot combine with {option}")
    return found


CHECKS: tuple[Callable[[dict[str, Any]], list[str]], ...] = (
    schema_problems,
    key_problems,
    manager_name_problems,
    pattern_problems,
    custom_manager_problems,
    package_rule_problems,
)


def problems(config: dict[str, Any]) -> list[str]:
    return [problem for check in CHECKS for problem in check(config)]


# --------------------------------------------------------------------------- the tests


def test_the_committed_schema_is_the_pinned_renovate_release() -> None:
    pin = refresh.RENOVATE_SCHEMA
    source = json.loads((REFS / "SOURCES.json").read_text(encoding="utf-8"))["files"][SCHEMA_REL]
    assert SCHEMA["x-renovate-version"] == pin.version
    assert source["npm_package"] == f"renovate@{pin.version}"
    assert source["integrity"] == pin.integrity
    assert SCHEMA["$id"] == CONFIG["$schema"]


def test_the_schema_is_draft_07_and_leaves_unknown_keys_open() -> None:
    """Why key_problems exists: the schema never closes an option object."""
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert type(validator()) is jsonschema.Draft7Validator
    assert "additionalProperties" not in SCHEMA
    assert all(
        "additionalProperties" not in item
        for name in ("packageRules", "customManagers")
        for item in DEFINITIONS[name]["items"]["allOf"]
    )
    misspelt = {**CONFIG, "enabledManager": ["npm"]}
    assert schema_problems(misspelt) == []
    assert key_problems(misspelt) == ["$.enabledManager: not an option Renovate accepts in ."]


def test_what_the_checks_derive_from_the_schema() -> None:
    assert {"npm", "pip_requirements", "github-actions"} <= MANAGERS
    assert not MANAGERS & {"regex", "jsonata", "customManagers", "yarn"}
    assert CUSTOM_TYPES == ("jsonata", "regex")
    assert {"matchManagers", "matchFileNames", "matchUpdateTypes"} <= SELECTORS
    assert "groupName" not in PARENTED and "groupName" in allowed_keys("packageRules")
    assert "managerFilePatterns" in PARENTED and "managerFilePatterns" not in TOP_LEVEL
    assert {"enabled", "matchManagers"} <= allowed_keys("packageRules")
    assert "matchManagers" not in allowed_keys(".") | allowed_keys("npm")


def test_renovate_json_passes() -> None:
    assert problems(CONFIG) == []


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set `value` at a dotted path (`customManagers.0.customType`)."""

    def mutate(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = config
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _rename(path: str, old: str, new: str | None) -> Callable[[dict[str, Any]], None]:
    """Rename key `old` of the object at a dotted path (`None`: delete it)."""

    def mutate(config: dict[str, Any]) -> None:
        node: Any = config
        for part in filter(None, path.split(".")):
            node = node[int(part)] if isinstance(node, list) else node[part]
        value = node.pop(old)
        if new is not None:
            node[new] = value

    return mutate


MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "misspelt top-level key": (
        _rename("", "enabledManagers", "enabledManager"),
        "$.enabledManager: not an option",
    ),
    "wrong type": (_set("dependencyDashboard", "yes"), "'yes' is not of type 'boolean'"),
    "unknown customType": (
        _set("customManagers.0.customType", "regexp"),
        "$.customManagers[0].customType: 'regexp' is not one of",
    ),
    "misspelt key in a packageRule": (
        _rename("packageRules.3", "groupName", "groupname"),
        "$.packageRules[3].groupname: not an option Renovate accepts in packageRules",
    ),
    "option outside its parents (manager key in a packageRule)": (
        _set("packageRules.0.managerFilePatterns", ["/x/"]),
        "$.packageRules[0].managerFilePatterns: not an option",
    ),
    "manager object below the top level": (
        _set("packageRules.2.npm", {"rangeStrategy": "pin"}),
        "$.packageRules[2].npm: not an option Renovate accepts in packageRules",
    ),
    "key Renovate's customManagers list refuses": (
        _set("customManagers.2.groupName", "images"),
        "$.customManagers[2].groupName: not an option Renovate accepts in customManagers",
    ),
    "misspelt key in a postUpgradeTasks object": (
        _rename("packageRules.4.postUpgradeTasks", "fileFilters", "fileFilter"),
        "$.packageRules[4].postUpgradeTasks.fileFilter: not an option",
    ),
    "renamed option (FileMatchMigration)": (
        _rename("npm", "managerFilePatterns", "fileMatch"),
        "$.npm.fileMatch: not an option",
    ),
    "global-only option in a repository config": (
        _set("allowedCommands", ["make lock"]),
        "$.allowedCommands: not an option",
    ),
    "bad enum inside a manager object": (
        _set("npm.rangeStrategy", "pinned"),
        "$.npm.rangeStrategy: 'pinned' is not one of",
    ),
    "unknown manager": (
        _set("enabledManagers.0", "pip-requirements"),
        "$.enabledManagers: unknown manager 'pip-requirements'",
    ),
    "manager name the migration rewrites": (
        _set("packageRules.4.matchManagers", ["regex"]),
        "$.packageRules[4].matchManagers: unknown manager 'regex'",
    ),
    "managerFilePatterns regex that does not compile": (
        _set("pip_requirements.managerFilePatterns.0", "/^requirements(-dev\\.txt$/"),
        "$.pip_requirements.managerFilePatterns: '/^requirements(-dev\\\\.txt$/' is no RE2",
    ),
    "managerFilePatterns regex RE2 cannot run (lookahead)": (
        _set("npm.managerFilePatterns.0", "/^(?!x)package\\.json$/"),
        "$.npm.managerFilePatterns: '/^(?!x)package\\\\.json$/' is no RE2 regex",
    ),
    "`**` beside other patterns": (
        _set("packageRules.4.matchFileNames", ["**", "components/versions.py"]),
        "$.packageRules[4].matchFileNames: `*` or `**` with other patterns",
    ),
    "matchCurrentVersion regex that does not compile": (
        _set("packageRules.7.matchCurrentVersion", "/^0\\.(/"),
        "$.packageRules[7].matchCurrentVersion: '/^0\\\\.(/' is no RE2",
    ),
    "matchStrings regex that does not compile": (
        _set("customManagers.1.matchStrings.0", "# renovate: (?<datasource>\\S+"),
        "$.customManagers[1]: '# renovate: (?<datasource>\\\\S+' is no RE2",
    ),
    "regex manager without datasource": (
        _rename("customManagers.2", "datasourceTemplate", None),
        "$.customManagers[2]: no datasource group or template",
    ),
    "lookupName group (MatchStringsMigration)": (
        _set(
            "customManagers.1.matchStrings.0",
            "# renovate: datasource=(?<datasource>\\S+) depName=(?<lookupName>\\S+)\\n"
            "\\s*[A-Z_]+: (?<currentValue>\\S+)",
        ),
        "$.customManagers[1]: `(?<lookupName>` is migrated",
    ),
    "packageRule without a selector": (
        _rename("packageRules.3", "matchPackageNames", "packageNames"),
        "$.packageRules[3]: no match* selector",
    ),
    "packageRule with only selectors": (
        _set("packageRules.0", {"matchManagers": ["github-actions"], "matchDepNames": ["x"]}),
        "$.packageRules[0]: only selectors",
    ),
    "matchUpdateTypes with a pre-lookup option": (
        _set("packageRules.7.rangeStrategy", "pin"),
        "$.packageRules[7]: matchUpdateTypes cannot combine with rangeStrategy",
    ),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_each_mistake_is_caught(name: str) -> None:
    mutate, expected = MUTATIONS[name]
    config = copy.deepcopy(CONFIG)
    mutate(config)
    found = problems(config)
    assert any(expected in problem for problem in found), found
