"""The Pulumi engine's own rules for project files, stack config and URNs, applied offline.

Ported (the rules, not the code) from pulumi/pulumi @ 1b5949891b3c, the files listed in
offline/refs/README.md ("Pulumi engine rules"):

- `sdk/go/common/workspace/project.json` + `project.go` `ValidateProject`: Pulumi.yaml is checked
  against Pulumi's project schema (committed as offline/refs/apache-2.0/pulumi/project.json);
- `project.go` `RewriteShorthandConfigValues` and `(*Project).Validate`: config declarations; a key
  outside the project's namespace may not declare `type` or `default`, only `value`;
- `sdk/go/common/tokens` `ValidateProjectName`, `IsName`: project and stack names;
- `sdk/go/common/resource/config/key.go` `ParseKey`: stack config keys are `<namespace>:<name>`;
- `pkg/workspace/config.go` `ValidateStackConfigAndApplyProjectConfig`: stack config is checked
  against the typed declarations (missing keys, types, secrets) and project defaults applied;
- `sdk/go/common/resource/urn` `New` and `pkg/resource/deploy/deployment.go` `generateURN`: a
  child's URN type is its parent's qualified type + `$` + its own type, except that the root stack
  type `pulumi:pulumi:Stack` is never included.

Messages are the engine's own wording (`fmt.Errorf` strings of those files), prefixed with the file
and line they concern. Where the engine stops at the first problem, this reports every one.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from jsonschema import Draft202012Validator

from offline.yaml_files import Located, YamlFileError, load, loads, read_text

ROOT_STACK_TYPE: Final = "pulumi:pulumi:Stack"
PROJECT_FILE: Final = "Pulumi.yaml"
PROJECT_SCHEMA: Final = Path(__file__).resolve().parent / "refs/apache-2.0/pulumi/project.json"

# ProjectStack (sdk/go/common/workspace/project.go): what a Pulumi.<stack>.yaml may hold. The CLI
# ignores other keys; offline they are errors, because a misspelt `config:` would silently drop
# every value of the stack.
STACK_FILE_KEYS: Final = frozenset(
    {"secretsprovider", "encryptedkey", "encryptionsalt", "config", "environment"}
)

# tokens.IsName: letters, digits, '_', '-', '.'; project and stack names are at most 100 long.
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_MAX_NAME = 100
_UNSET: Final = object()


class EngineRuleError(Exception):
    """The real CLI would refuse these files before running the program."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(problems)

    def __str__(self) -> str:
        return "\n".join(self.problems)


# -- names -----------------------------------------------------------------------------------------
def project_name_problem(name: str) -> str | None:
    """tokens.ValidateProjectName."""
    if name == "":
        return "project names may not be empty"
    if len(name) > _MAX_NAME:
        return "project names are limited to 100 characters"
    if not _NAME.fullmatch(name):
        return "project names may only contain alphanumerics, hyphens, underscores, and periods"
    return None


def stack_name_problem(name: str) -> str | None:
    """The backends' stack reference check (`stack names are limited to 100 characters ...`)."""
    if not _NAME.fullmatch(name) or len(name) > _MAX_NAME:
        return (
            "stack names are limited to 100 characters and may only contain alphanumeric, "
            f"hyphens, underscores, or periods: {name}"
        )
    return None


# -- config keys and values ------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfigKey:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}:{self.name}"


def parse_config_key(text: str) -> ConfigKey:
    """config.ParseKey: `<namespace>:<name>`, or the legacy `<namespace>:config:<name>`."""
    parts = text.split(":")
    if len(parts) == 2:
        return ConfigKey(parts[0], parts[1])
    if len(parts) == 3 and parts[1] == "config":
        return ConfigKey(parts[0], parts[2])
    raise ValueError(
        f"could not parse {text} as a configuration key "
        "(configuration keys should be of the form `<namespace>:<name>`)"
    )


def declared_key(project: str, key: str) -> ConfigKey:
    """workspace.parseConfigKey: a declaration without a namespace is in the project's."""
    return parse_config_key(key) if ":" in key else ConfigKey(project, key)


def namespaced_by_project(project: str, key: str) -> bool:
    """configKeyIsNamespacedByProject."""
    return ":" not in key or key.startswith(project + ":")


@dataclass(frozen=True)
class ItemsType:
    type: str
    items: ItemsType | None = None


def full_type_name(type_name: str, items: ItemsType | None) -> str:
    """workspace.InferFullTypeName: `array<array<string>>`."""
    if items is not None:
        return f"array<{full_type_name(items.type, items.items)}>"
    return type_name


def config_value_matches(type_name: str, items: ItemsType | None, value: Any) -> bool:
    """workspace.ValidateConfigValue, for values as Go decodes them (bool is not an integer)."""
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        if isinstance(value, float):
            return math.isfinite(value) and value == math.trunc(value)
        return isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value) is not None
    if type_name == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if type_name == "object":
        return isinstance(value, dict)
    if not isinstance(value, list) or items is None:
        return False
    return all(config_value_matches(items.type, items.items, item) for item in value)


@dataclass(frozen=True)
class StackValue:
    """A config.Value: a scalar kept as its text, an object/array as JSON, or an encrypted value."""

    text: str
    is_object: bool = False
    secure: bool = False

    @classmethod
    def of(cls, raw: Any) -> StackValue:
        if isinstance(raw, Mapping) and set(raw) == {"secure"}:
            return cls(str(raw["secure"]), secure=True)
        if isinstance(raw, Mapping | list):
            return cls(json.dumps(raw), is_object=True)
        if isinstance(raw, bool):
            return cls("true" if raw else "false")
        return cls("" if raw is None else str(raw))

    def content(self) -> Any:
        """What validateStackConfigValue checks: the text, or the decoded JSON of an object."""
        return json.loads(self.text) if self.is_object else self.text


# -- the project file ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfigDeclaration:
    """One entry of Pulumi.yaml `config:` after RewriteShorthandConfigValues."""

    key: str
    type: str | None = None
    items: ItemsType | None = None
    default: Any = _UNSET
    value: Any = _UNSET
    secret: bool = False
    description: str = ""

    @property
    def has_default(self) -> bool:
        return self.default is not _UNSET and self.default is not None

    @property
    def has_value(self) -> bool:
        return self.value is not _UNSET and self.value is not None


@dataclass(frozen=True)
class Project:
    name: str
    path: Path
    config: Mapping[str, ConfigDeclaration] = field(default_factory=dict)


@cache
def _project_validator() -> Draft202012Validator:
    schema = json.loads(PROJECT_SCHEMA.read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def closest_key(needle: str, keys: list[str], max_distance: int = 2) -> str:
    """findClosestKey: the alphabetically first key within Levenshtein distance 2."""
    best, closest = "", max_distance + 1
    for key in sorted(keys):
        distance = _levenshtein(needle.lower(), key.lower())
        if distance == 0:
            return key
        if distance < closest:
            best, closest = key, distance
    return best


def _items_type(raw: Any) -> ItemsType | None:
    if not isinstance(raw, Mapping):
        return None
    return ItemsType(str(raw.get("type")), _items_type(raw.get("items")))


def _schema_problems(doc: Located, raw: Mapping[str, Any]) -> list[str]:
    """ValidateProject's JSON-schema step: one `#/<location>: <message>` per violation."""
    problems: list[str] = []
    for error in sorted(_project_validator().iter_errors(raw), key=lambda e: list(e.path)):
        parts = tuple(error.absolute_path)
        location = "#/" + "/".join(str(p) for p in parts)
        message = error.message
        if error.validator == "additionalProperties":
            message += _allowed_hint(error)
        line = doc.line_of(parts)
        problems.append(f"{doc.path.name}:{line}: {location}: {message}")
    return problems


def _allowed_hint(error: Any) -> str:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    allowed = sorted(schema.get("properties", {}))
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    extras = [key for key in instance if key not in allowed]
    if extras and allowed:
        closest = closest_key(str(extras[0]), allowed)
        if closest:
            return f"; did you mean '{closest}'?"
        return "; the allowed attributes are " + ", ".join(f"'{a}'" for a in allowed)
    return ""


def _declaration(name: str, key: str, raw: Any) -> ConfigDeclaration | None:
    """RewriteShorthandConfigValues for one entry: a bare value is a default of the project's
    own key, and a value of another namespace's key."""
    if isinstance(raw, str | int | bool | list) or raw is None:
        raw = {"default": raw} if namespaced_by_project(name, key) else {"value": raw}
    if not isinstance(raw, Mapping):
        return None  # the schema reports it
    return ConfigDeclaration(
        key=key,
        type=str(raw["type"]) if "type" in raw else None,
        items=_items_type(raw.get("items")),
        default=raw.get("default", _UNSET),
        value=raw.get("value", _UNSET),
        secret=bool(raw.get("secret", False)),
        description=str(raw.get("description", "")),
    )


def declaration_problem(name: str, declaration: ConfigDeclaration) -> str | None:
    """(*Project).Validate for one declaration of project `name`."""
    key = declaration.key
    if declaration.has_default and declaration.has_value:
        return f"project config '{key}' cannot have both a 'default' and 'value' attribute"
    if namespaced_by_project(name, key):
        if declaration.type == "array" and declaration.items is None:
            return (
                f"The configuration key '{key}' declares an array but does not specify the "
                "underlying type via the 'items' attribute"
            )
        if (
            declaration.type is not None
            and declaration.has_default
            and not config_value_matches(declaration.type, declaration.items, declaration.default)
        ):
            expected = full_type_name(declaration.type, declaration.items)
            return (
                f"The default value specified for configuration key '{key}' is not of the "
                f"expected type '{expected}'"
            )
        return None
    if declaration.type is not None:
        return (
            f"Configuration key '{key}' is not namespaced by the project and should not "
            "define a type"
        )
    if declaration.has_default:
        return (
            f"Configuration key '{key}' is not namespaced by the project and should not "
            "define a default value. Did you mean to use the 'value' attribute instead of "
            "'default'?"
        )
    if not declaration.has_value:
        return f"Configuration key '{key}' is namespaced and must provide an attribute 'value'"
    return None


def _declarations(
    doc: Located, name: str, config: Any
) -> tuple[dict[str, ConfigDeclaration], list[str]]:
    declarations: dict[str, ConfigDeclaration] = {}
    problems: list[str] = []
    for key in config if isinstance(config, Mapping) else {}:
        declaration = _declaration(name, str(key), config[key])
        if declaration is None:
            continue
        declarations[declaration.key] = declaration
        problem = declaration_problem(name, declaration)
        if problem is not None:
            line = doc.line_of(("config", declaration.key))
            problems.append(f"{doc.path.name}:{line}: {problem}")
    return declarations, problems


def load_project(directory: Path) -> Project:
    """Pulumi.yaml of `directory`, validated as the CLI does before it runs anything."""
    path = directory / PROJECT_FILE
    try:
        text = read_text(path)
    except YamlFileError as error:
        raise EngineRuleError([str(error)]) from None
    return _project(text, path)


@lru_cache(maxsize=32)
def _project(text: str, path: Path) -> Project:
    """The project of Pulumi.yaml `text`: every plan validates the same file (the schema check
    alone takes milliseconds), and the result depends on nothing else. A refused file raises each
    time (exceptions are not cached); the Project is immutable (declared values are copied by
    `apply_project_config` before they reach a config)."""
    try:
        doc = loads(text, path)
    except YamlFileError as error:
        raise EngineRuleError([str(error)]) from None
    raw = doc.data
    if not isinstance(raw, Mapping):
        raise EngineRuleError(
            [f"{path.name}:1: expected project to be an object, was '{type(raw).__name__}'"]
        )
    if any(not isinstance(key, str) for key in raw):
        bad = next(key for key in raw if not isinstance(key, str))
        raise EngineRuleError([f"{path.name}:1: expected only string keys, got '{bad}'"])
    if "name" not in raw:
        closest = closest_key("name", list(raw))
        found = f"; found '{closest}' instead" if closest else ""
        raise EngineRuleError([f"{path.name}:1: project is missing a 'name' attribute{found}"])
    name = raw["name"]
    if not isinstance(name, str) or not name:
        line = doc.line_of(("name",))
        message = "project is missing a non-empty string 'name' attribute"
        raise EngineRuleError([f"{path.name}:{line}: {message}"])
    problems = _schema_problems(doc, raw)
    if isinstance(raw.get("config"), str) and "stackConfigDir" in raw:
        problems.append(
            f"{path.name}:{doc.line_of(('config',))}: Should not use both config and "
            "stackConfigDir to define the stack directory. Use only stackConfigDir instead."
        )
    if (name_problem := project_name_problem(name)) is not None:
        problems.append(f"{path.name}:{doc.line_of(('name',))}: {name_problem}")
    declarations, declaration_problems = _declarations(doc, name, raw.get("config"))
    problems += declaration_problems
    if problems:
        raise EngineRuleError(problems)
    return Project(name=name, path=path, config=MappingProxyType(declarations))


# -- stack config ----------------------------------------------------------------------------------
def _missing_keys(keys: list[str]) -> str:
    """formatMissingKeys: `'a'`, `'a' and 'b'`, `'a', 'b' and 'c'`."""
    if len(keys) == 1:
        return f"'{keys[0]}'"
    ordered = sorted(keys)
    head = "".join(f"'{key}', " for key in ordered[:-2])
    return f"{head}'{ordered[-2]}' and '{ordered[-1]}'"


def _parsed_keys(config: Mapping[str, Any], prefix: str) -> dict[ConfigKey, Any]:
    parsed: dict[ConfigKey, Any] = {}
    problems: list[str] = []
    for text, raw in config.items():
        try:
            parsed[parse_config_key(str(text))] = raw
        except ValueError as error:
            problems.append(f"{prefix}{error}")
    if problems:
        raise EngineRuleError(problems)
    return parsed


def _type_problem(stack: str, declaration: ConfigDeclaration, raw: Any) -> str | None:
    """validateStackConfigValue for a typed declaration and its stack value."""
    value = StackValue.of(raw)
    key = declaration.key
    if declaration.secret and not value.secure:
        return f"Stack '{stack}' with configuration key '{key}' must be encrypted as it's secret"
    if declaration.type is None or value.secure:
        return None  # an encrypted value is checked once decrypted, which needs the real backend
    if config_value_matches(declaration.type, declaration.items, value.content()):
        return None
    expected = full_type_name(declaration.type, declaration.items)
    return f"Stack '{stack}' with configuration key '{key}' must be of type '{expected}'"


def apply_project_config(
    project: Project, stack: str, config: Mapping[str, Any], where: str = ""
) -> dict[str, Any]:
    """ValidateStackConfigAndApplyProjectConfig: `config` (stack file `config:` values, plain
    YAML data by key) with the project's defaults and values applied, or EngineRuleError with
    the engine's messages. `where` prefixes each message (the stack file)."""
    prefix = f"{where}: " if where else ""
    values = _parsed_keys(config, prefix)
    missing: list[str] = []
    for declaration in sorted(project.config.values(), key=lambda d: d.key):
        key = declared_key(project.name, declaration.key)
        if key in values:
            continue
        if declaration.has_default:
            values[key] = copy.deepcopy(declaration.default)
        elif declaration.has_value:
            values[key] = copy.deepcopy(declaration.value)
        elif key.namespace == project.name:
            missing.append(declaration.key)
    if missing:
        noun = "values" if len(missing) > 1 else "value"
        raise EngineRuleError(
            [f"{prefix}Stack '{stack}' is missing configuration {noun} {_missing_keys(missing)}"]
        )
    problems = [
        f"{prefix}{problem}"
        for declaration in sorted(project.config.values(), key=lambda d: d.key)
        if (
            problem := _type_problem(
                stack, declaration, values[declared_key(project.name, declaration.key)]
            )
        )
        is not None
    ]
    if problems:
        raise EngineRuleError(problems)
    return {str(key): raw for key, raw in values.items()}


def stack_file(directory: Path, stack: str) -> Path:
    return directory / f"Pulumi.{stack}.yaml"


def load_stack_config(
    directory: Path, stack: str, project: Project | None = None
) -> dict[str, Any]:
    """The config a `pulumi preview -s <stack>` would give the program: Pulumi.<stack>.yaml checked
    and merged with the project's declarations, by full key (`platform:clusters`)."""
    if (problem := stack_name_problem(stack)) is not None:
        raise EngineRuleError([problem])
    project = project or load_project(directory)
    path = stack_file(directory, stack)
    if not path.is_file():
        known = ", ".join(stacks(directory)) or "none"
        raise EngineRuleError([f"no stack file {path.name} (stacks: {known})"])
    try:
        doc = load(path)
    except YamlFileError as error:
        raise EngineRuleError([str(error)]) from None
    raw = doc.data if doc.data is not None else {}
    if not isinstance(raw, Mapping):
        raise EngineRuleError([f"{path.name}:1: a stack file is a mapping (config:, ...)"])
    problems = [
        f"{path.name}:{doc.line_of((str(key),))}: unknown key '{key}' (a stack file holds "
        f"{', '.join(sorted(STACK_FILE_KEYS))})"
        for key in raw
        if key not in STACK_FILE_KEYS
    ]
    config = raw.get("config") or {}
    if not isinstance(config, Mapping):
        problems.append(f"{path.name}:{doc.line_of(('config',))}: config: must be a mapping")
    if problems:
        raise EngineRuleError(problems)
    for key in config:
        try:
            parse_config_key(str(key))
        except ValueError as error:
            problems.append(f"{path.name}:{doc.line_of(('config', str(key)))}: {error}")
    if problems:
        raise EngineRuleError(problems)
    return apply_project_config(project, stack, config, where=path.name)


def stacks(directory: Path) -> list[str]:
    """Stack names that have a Pulumi.<stack>.yaml in `directory`."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in directory.glob("Pulumi.*.yaml"))


# -- URNs ------------------------------------------------------------------------------------------
def qualified_type(urn: str) -> str:
    """The `<Qualified$Type$Name>` part of a URN."""
    return urn.split("::")[2]


def urn(stack: str, project: str, parent: str, type_: str, name: str) -> str:
    """deployment.generateURN + urn.New: the parent's full qualified type prefixes the type,
    unless the parent is the root stack (or there is no parent)."""
    parent_type = qualified_type(parent) if parent else ""
    if parent_type and parent_type != ROOT_STACK_TYPE:
        type_ = f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"
