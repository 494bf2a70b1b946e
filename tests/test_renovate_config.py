"""renovate.json against Renovate's own configuration schema, plus the cheap checks of Renovate's
validator that the schema does not express, as strict as ``renovate-config-validator --strict``
(a configuration that needs a migration fails, as every warning does), not its default mode.
The real validator of the same Renovate version runs in CI (.github/workflows/pr.yml
``renovate-config``, installed from .github/renovate-validator/package-lock.json); these checks
are its offline approximation, compared with it case by case (``ACCEPTED`` and ``MUTATIONS``).

The schema is the `renovate` npm package's ``renovate-schema.json`` (the file
https://docs.renovatebot.com/renovate-schema.json serves, which renovate.json's ``$schema``
names), committed in offline/refs with its version and npm integrity
(scripts/refresh_offline_refs.py ``RENOVATE_SCHEMA``, ``make refresh-refs``).

The schema (draft-07) sets ``additionalProperties`` only on the free-form map options
(``FREE_FORM_WITH_SCHEMA``: constraints, constraintsVersioning, customizeDashboard, installTools,
registryAliases), never on an object whose keys are options, so on its own it accepts any
misspelt key. Renovate itself rejects them: ``validateConfig`` in ``dist/config/validation.js``
(lib/config/validation.ts) reports every key that is no option ("Invalid configuration option")
and every option used outside its ``parents`` (a warning, which fails
``renovate-config-validator`` too: dist/config-validator.js ``validate``). The schema records
``parents``: an option with parents is listed in ``definitions.<parent>.items.allOf[0].properties``
and at the top level only if ``.`` is one of them (checked once against renovate 44.121.2's
``dist/config/options/index.js``, every option, both directions; only ``description`` and
``overrideDescription``, which have no parents, are listed in every parent as well).
``key_problems`` applies that. validation.js does not recurse into the object options it handles
itself (registryAliases, env, statusCheckNames, statusCheckWhen, customDatasources, installTools,
constraints, constraintsVersioning) nor into ``freeChoice`` ones: their keys are names, not
options. All but customDatasources have no options listed under them in the schema, so the walk
(``objects``) never enters them; customDatasources' keys are datasource names whose objects take
validation.js's own ``allowedKeys`` (``NAMED_MAPS``).

Regexes (managerFilePatterns, the match* selectors, allowedVersions, matchStrings) are compiled by
RE2 itself (the ``google-re2`` package, requirements-dev.txt), as Renovate compiles them with the
``re2`` npm package (dist/util/regex.js). That package first rewrites some JavaScript spellings
into RE2's (re2's lib/pattern.cc ``translateRegExp``: ``\\uXXXX``, ``\\u{...}``, ``\\cX``, long
``\\p{Letter}`` names); those are rejected here though Renovate accepts them, which is the safe
direction.

Not checked here (Renovate resolves them only when it runs, or the CI job checks them): the presets
in ``extends`` (``config:recommended`` and ``helpers:pinGitHubActionDigestsToSemver`` exist in
44.121.2: dist/config/presets/internal/helpers.preset.js, and neither is in the
``removedPresets`` that ``ExtendsMigration`` rewrites, dist/config/presets/common.js), templates,
schedules and timezones, ``env`` names, the other migrations, the regexes of pattern options
outside packageRules (ignorePaths, includePaths, baseBranchPatterns), and whether a datasource
or versioning named inside a ``# renovate:`` comment exists.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.test_refresh_refs import refresh
from tests.test_renovate import CONFIG, re2_error, renovate_pattern

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
# Object options whose keys are free names, not options: the schema lists no option inside them.
FREE_FORM = frozenset(
    name
    for name, spec in DEFINITIONS.items()
    if spec.get("type") == "object" and not children(name)
)
# The free-form ones whose schema states their values (the only `additionalProperties` in it).
FREE_FORM_WITH_SCHEMA = frozenset(
    name for name, spec in DEFINITIONS.items() if "additionalProperties" in json.dumps(spec)
)
# Maps from a free name to an object: validation.js checks each object against its own
# `allowedKeys` and does not recurse. The schema lists those keys as the option's children, like
# an option object's, so this one is named by hand (validation.js `key === "customDatasources"`).
NAMED_MAPS = frozenset({"customDatasources"})
# validation.js keeps its own `allowedKeys` for these: the schema's children but
# overrideDescription (checked against 44.121.2: 15 keys for customManagers, 4 for
# customDatasources).
OWN_ALLOWED_KEYS = frozenset({"customManagers"}) | NAMED_MAPS
# validation.js: a packageRule needs one of these (an error).
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
# The manager names a migration rewrites (dist/config/migrations/custom/
# enabled-managers-migration.js, match-managers-migration.js); each rewrites only an array of
# strings, and under --strict a needed migration fails.
MIGRATED_MANAGER_NAMES: dict[str, dict[str, str]] = {
    "enabledManagers": {
        "yarn": "npm",
        "regex": "custom.regex",
        "renovate-config-presets": "renovate-config",
    },
    "matchManagers": {"regex": "custom.regex", "renovate-config-presets": "renovate-config"},
}


@functools.cache
def validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(SCHEMA)
    cls.check_schema(SCHEMA)
    return cls(SCHEMA)


# --------------------------------------------------------------------------- the checks


def schema_error(error: jsonschema.ValidationError) -> str:
    """The error's JSON path and failing keyword, with jsonschema's message only when it does
    not quote a whole subtree of the config or schema."""
    negated = error.validator_value
    if error.validator == "not" and isinstance(error.instance, dict) and isinstance(negated, dict):
        # The schema's top-level `not: {anyOf: [{required: [<global-only option>]}, ...]}`.
        named = sorted(
            key
            for alternative in negated.get("anyOf", [])
            for key in alternative.get("required", [])
            if key in error.instance
        )
        return f"{error.json_path}: fails `not` (global-only option: {', '.join(named)})"
    if len(error.message) > 200:
        return f"{error.json_path}: fails `{error.validator}`"
    return f"{error.json_path}: {error.message}"


def schema_problems(config: dict[str, Any]) -> list[str]:
    return [schema_error(e) for e in validator().iter_errors(config)]


def allowed_keys(parent: str) -> frozenset[str]:
    """What validation.js accepts directly inside `parent` (`.` is the top level)."""
    if parent == ".":
        return TOP_LEVEL | IGNORED_TOP_LEVEL
    if parent in OWN_ALLOWED_KEYS:
        return children(parent) - {"overrideDescription"}
    # validation.js `topLevelObjects`: the manager objects and `env` only at the top level.
    return children(parent) | (TOP_LEVEL - PARENTED - MANAGERS - {"env"})


def objects(
    node: dict[str, Any], parent: str = ".", path: str = "$"
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, parent name, object) for the config and every object validation.js checks the
    keys of (as its `getParentName` names them): an option whose children the schema lists, the
    elements of an array option, the objects of a NAMED_MAPS option (not recursed into)."""
    yield path, parent, node
    for key, value in node.items():
        if key in NAMED_MAPS and isinstance(value, dict):
            for name, item in value.items():
                if isinstance(item, dict):
                    yield f"{path}.{key}.{name}", key, item
        elif isinstance(value, dict) and children(key):
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
    """Names a migration rewrites, in enabledManagers or matchManagers; and unknown managers in
    enabledManagers only: validation.js `getUnsupportedEnabledManagers` (the managers and custom
    types, after removing the first `custom.`) is its only manager-name check. matchManagers takes
    any pattern (`/^github-/`, `!npm`) and a string (massage.js wraps it in a list)."""
    known = MANAGERS | set(CUSTOM_TYPES)
    found = []
    for path, _, node in objects(config):
        for key, renamed in MIGRATED_MANAGER_NAMES.items():
            if isinstance(node.get(key), list):
                found += [
                    f"{path}.{key}: {name!r} is migrated to {renamed[name]!r}"
                    for name in node[key]
                    if name in renamed
                ]
        value = node.get("enabledManagers")
        names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        found += [
            f"{path}.enabledManagers: unknown manager {name!r}"
            for name in names
            if isinstance(name, str)
            and name not in MIGRATED_MANAGER_NAMES["enabledManagers"]
            and name.replace("custom.", "", 1) not in known
        ]
    return found


def pattern_problems(config: dict[str, Any]) -> list[str]:
    """managerFilePatterns and the match* selectors: each `/regex/` compiles in RE2
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
                parsed = renovate_pattern(item)
                error = parsed and re2_error(*parsed)
                if error:
                    found.append(f"{path}.{key}: {item!r} is no RE2 regex ({error})")
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
            error = re2_error(match_string)
            if error:
                found.append(f"{where}: {match_string!r} is no RE2 regex ({error})")
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
    """validation.js per packageRule. Its warning for a rule of selectors only ("at least one
    non-match* ... field") is not checked: config-validator.js runs massage.js before
    validateConfig, and massage.js drops every rule whose keys all start with `match` or
    `exclude`, so such a rule written in renovate.json passes --strict (it is ignored); the
    warning is reached only through a preset a rule extends."""
    found = []
    for i, rule in enumerate(config.get("packageRules", [])):
        where = f"$.packageRules[{i}]"
        if not SELECTORS & set(rule):
            found.append(f"{where}: no match* selector")
        post_lookup = [
            selector
            for selector, applies in (
                ("matchUpdateTypes", bool(rule.get("matchUpdateTypes"))),  # isNonEmptyArray
                ("matchIsBreaking", isinstance(rule.get("matchIsBreaking"), bool)),
            )
            if applies
        ]
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
    """Why key_problems exists: the schema closes no object whose keys are options; its only
    `additionalProperties` are on free-form maps, whose keys are names."""
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert type(validator()) is jsonschema.Draft7Validator
    assert "additionalProperties" not in json.dumps(SCHEMA["properties"])
    assert "additionalProperties" not in SCHEMA
    assert {
        "constraints",
        "constraintsVersioning",
        "customizeDashboard",
        "installTools",
        "registryAliases",
    } == FREE_FORM_WITH_SCHEMA
    assert FREE_FORM_WITH_SCHEMA <= FREE_FORM
    assert not any(children(name) for name in FREE_FORM_WITH_SCHEMA)
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


# validation.js (44.121.2) handles these object options itself and does not recurse into them
# (`registryAliases`, `env`, `statusCheckNames`, `statusCheckWhen`, `customDatasources`,
# `installTools`, `constraints`, `constraintsVersioning`), nor into the `freeChoice` options of
# dist/config/options/index.js (`customizeDashboard`, `prBodyDefinitions`,
# `prBodyHeadingDefinitions`, `userStrings`; installTools, constraints and
# constraintsVersioning are freeChoice too).
VALIDATION_JS_FREE_FORM = frozenset(
    {
        "registryAliases",
        "env",
        "statusCheckNames",
        "statusCheckWhen",
        "customDatasources",
        "installTools",
        "constraints",
        "constraintsVersioning",
        "customizeDashboard",
        "prBodyDefinitions",
        "prBodyHeadingDefinitions",
        "userStrings",
    }
)


def test_free_form_maps_are_not_walked_as_options() -> None:
    """The schema marks all of validation.js's free-form options but customDatasources, whose
    keys are datasource names over objects of its own allowedKeys (hence NAMED_MAPS)."""
    assert VALIDATION_JS_FREE_FORM - NAMED_MAPS <= FREE_FORM
    assert all(children(name) for name in NAMED_MAPS)  # the schema alone would walk them
    config = copy.deepcopy(CONFIG)
    for name in VALIDATION_JS_FREE_FORM & TOP_LEVEL - NAMED_MAPS:
        config[name] = {"any-name": "value", "groupName": {"not": "an option here"}}
    config["packageRules"][5]["postUpgradeTasks"]["installTools"] = {"node": {}}
    assert key_problems(config) == []
    paths = [path for path, _, _ in objects(config)]
    assert not [p for p in paths if any(f".{name}" in p for name in VALIDATION_JS_FREE_FORM)]


def test_own_allowed_keys_are_the_schema_children_but_override_description() -> None:
    """validation.js `allowedKeys` for customManagers and for each customDatasources object."""
    assert allowed_keys("customDatasources") == {
        "description",
        "defaultRegistryUrlTemplate",
        "format",
        "transformTemplates",
    }
    assert len(allowed_keys("customManagers")) == 15
    assert {"matchStrings", "depTypeTemplate", "fileFormat"} <= allowed_keys("customManagers")
    assert "overrideDescription" in children("customManagers") & children("customDatasources")


def test_a_global_only_option_is_named_not_the_config_printed() -> None:
    problem = schema_problems({**CONFIG, "allowedCommands": ["make lock"]})
    assert problem == ["$: fails `not` (global-only option: allowedCommands)"]


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
    "global-only option (the schema's `not`)": (
        _set("allowedCommands", ["make lock"]),
        "$: fails `not` (global-only option: allowedCommands)",
    ),
    # The schema's enum: stricter than the validator, which checks no string option's values
    # (STRICTER_THAN_VALIDATOR).
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
        "$.packageRules[4].matchManagers: 'regex' is migrated to 'custom.regex'",
    ),
    "enabledManagers name only EnabledManagersMigration rewrites": (
        _set("enabledManagers.2", "yarn"),
        "$.enabledManagers: 'yarn' is migrated to 'npm'",
    ),
    "overrideDescription in a customManagers entry": (
        _set("customManagers.2.overrideDescription", "images"),
        "$.customManagers[2].overrideDescription: not an option Renovate accepts in customManagers",
    ),
    "key a customDatasources object refuses": (
        _set("customDatasources", {"acme": {"defaultRegistryUrl": "https://example.com/{{x}}"}}),
        "$.customDatasources.acme.defaultRegistryUrl: not an option Renovate accepts in",
    ),
    "matchStrings with an atomic group (RE2 has none)": (
        _set("customManagers.1.matchStrings.0", "# renovate: (?<datasource>(?>\\S+))"),
        "$.customManagers[1]: '# renovate: (?<datasource>(?>\\\\S+))' is no RE2 regex",
    ),
    "matchDepNames with \\Z (RE2 has \\z only)": (
        _set("packageRules.1.matchDepNames", ["/^python\\Z/"]),
        "$.packageRules[1].matchDepNames: '/^python\\\\Z/' is no RE2 regex",
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
        _rename("packageRules.3", "matchPackageNames", None),
        "$.packageRules[3]: no match* selector",
    ),
    "matchUpdateTypes with a pre-lookup option": (
        _set("packageRules.7.rangeStrategy", "pin"),
        "$.packageRules[7]: matchUpdateTypes cannot combine with rangeStrategy",
    ),
}


# MUTATIONS that renovate-config-validator --strict accepts (the schema catches them).
STRICTER_THAN_VALIDATOR = frozenset({"bad enum inside a manager object"})


@pytest.mark.parametrize("name", MUTATIONS)
def test_each_mistake_is_caught(name: str) -> None:
    mutate, expected = MUTATIONS[name]
    config = copy.deepcopy(CONFIG)
    mutate(config)
    found = problems(config)
    assert any(expected in problem for problem in found), found


# Variations `renovate-config-validator --strict --no-global` (44.121.2) accepts (exit 0): the
# checks here must accept them too. tests/renovate_validator_agreement.py runs the real validator
# on renovate.json, every MUTATION and every one of these.
ACCEPTED: dict[str, Callable[[dict[str, Any]], None]] = {
    "matchManagers regex pattern": _set("packageRules.0.matchManagers", ["/^github-/"]),
    "matchManagers negation": _set("packageRules.3.matchManagers", ["!npm"]),
    "matchManagers as a string (massage.js wraps it)": _set(
        "packageRules.0.matchManagers", "github-actions"
    ),
    "enabledManagers `custom.` + a manager (only the prefix is removed)": _set(
        "enabledManagers.2", "custom.npm"
    ),
    "customDatasources keyed by datasource name": _set(
        "customDatasources",
        {
            "acme": {
                "description": "a JSON release list",
                "defaultRegistryUrlTemplate": "https://example.com/{{packageName}}.json",
                "format": "json",
                "transformTemplates": ['{"releases": [{"version": $.tag}]}'],
            }
        },
    ),
    "installTools keyed by tool name": _set(
        "packageRules.5.postUpgradeTasks.installTools", {"node": {}}
    ),
    "RE2 \\p{L}": _set("packageRules.3.matchPackageNames", ["/^\\p{L}+$/"]),
    "RE2 \\Q...\\E": _set("packageRules.3.matchPackageNames", ["/\\Qpulumi.x\\E/"]),
    "RE2 \\z": _set(
        "customManagers.1.matchStrings",
        [
            "# renovate: datasource=(?<datasource>\\S+) depName=(?<depName>\\S+)\\n"
            "\\s*[A-Z][A-Z0-9_]*: (?<currentValue>\\S+)\\z"
        ],
    ),
    "an escaped backslash before a digit (no backreference)": _set(
        "packageRules.3.matchPackageNames", ["/a\\\\1/"]
    ),
    "case-insensitive /re/i": _set("npm.managerFilePatterns", ["/^PACKAGE\\.json$/i"]),
    "packageRule of selectors only (massage.js drops it)": _set(
        "packageRules.0", {"matchManagers": ["github-actions"], "matchDepNames": ["x"]}
    ),
    "empty matchUpdateTypes with a pre-lookup option": _set(
        "packageRules.3",
        {"matchPackageNames": ["pulumi"], "matchUpdateTypes": [], "rangeStrategy": "pin"},
    ),
}


@pytest.mark.parametrize("name", ACCEPTED)
def test_what_renovate_accepts_passes(name: str) -> None:
    config = copy.deepcopy(CONFIG)
    ACCEPTED[name](config)
    assert problems(config) == []
