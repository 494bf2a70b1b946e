"""Every `pulumi ...` command and every URN written in the documentation, checked against the CLI
and against the offline plan of its stack.

A runbook command that names a URN that does not exist, a stack that has no stack file, a flag the
CLI does not have or a file nobody writes fails at 3 a.m.; here it fails `make test`.

What is checked, per command found in a fenced code block or an inline code span of README.md and
docs/*.md:
- the subcommand exists and every flag belongs to it or is global (flags from the CLI reference,
  https://www.pulumi.com/docs/iac/cli/commands/, pulumi v3);
- `-s/--stack` names a stack of the project the command runs in (`-C/--cwd` moves it);
- every URN (also outside commands) is in that stack's offline plan, with that project's name;
- `--file`, `--policy-pack-config`, `--policy-pack` name a file of the repository or one a make
  target writes under build/;
- `config set` keys of the project's namespace are declared in its Pulumi.yaml.
Placeholders (`<stack>`, `$STACK`, `"$(...)"`) stand for a value the reader supplies and are not
checked further.

`python -m offline.doc_commands` prints every problem (exit 1 if any).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from offline.cli import finish
from offline.engine import REPO_ROOT, Plan, plan_stack
from offline.pulumi_project import load_project, stacks

GLOBAL_FLAGS = frozenset(
    {
        "--color", "-C", "--cwd", "--non-interactive", "-v", "--verbose", "-e", "--emoji",
        "--disable-integrity-checking", "--logflow", "--logtostderr", "--profiling", "--tracing",
        "--memprofilerate", "-Q", "--fully-qualify-stack-names", "--otel-traces",
    }
)  # fmt: skip

_STACK = ("-s", "--stack")
_UPDATE = (
    *_STACK, "-c", "--config", "--config-file", "--config-path", "-d", "--debug", "--diff",
    "--exclude", "--exclude-dependents", "--expect-no-changes", "-j", "--json", "-m",
    "--message", "-p", "--parallel", "--policy-pack", "--policy-pack-config", "-r", "--refresh",
    "--show-config", "--show-replacement-steps", "--show-sames", "--show-secrets",
    "--suppress-outputs", "--suppress-progress", "-t", "--target", "--target-dependents",
    "--secrets-provider", "--run-program", "--attach-debugger", "--neo",
)  # fmt: skip

# Subcommand -> its own flags (https://www.pulumi.com/docs/iac/cli/commands/pulumi_<name>/).
COMMAND_FLAGS: dict[str, frozenset[str]] = {
    "preview": frozenset({*_UPDATE, "--save-plan", "--import-file"}),
    "up": frozenset(
        {
            *_UPDATE,
            "-y",
            "--yes",
            "-f",
            "--skip-preview",
            "--replace",
            "--target-replace",
            "--plan",
            "--continue-on-error",
            "--strict",
        }
    ),
    "destroy": frozenset(
        {
            *_STACK,
            "-y",
            "--yes",
            "-f",
            "--skip-preview",
            "-t",
            "--target",
            "--target-dependents",
            "--exclude",
            "--exclude-dependents",
            "--exclude-protected",
            "--remove",
            "--continue-on-error",
            "--preview-only",
            "--run-program",
            "-m",
            "--message",
            "--diff",
            "--refresh",
            "-r",
            "--show-secrets",
            "-j",
            "--json",
            "--config-file",
        }
    ),
    "refresh": frozenset(
        {
            *_STACK,
            "-y",
            "--yes",
            "-f",
            "--skip-preview",
            "-t",
            "--target",
            "--exclude",
            "--expect-no-changes",
            "--preview-only",
            "--clear-pending-creates",
            "--skip-pending-creates",
            "--import-pending-creates",
            "--run-program",
            "-m",
            "--message",
            "--diff",
            "-j",
            "--json",
            "--show-secrets",
            "--config-file",
        }
    ),
    "import": frozenset(
        {
            *_STACK,
            "-f",
            "--file",
            "--generate-code",
            "--parent",
            "--provider",
            "--protect",
            "-o",
            "--out",
            "-y",
            "--yes",
            "--skip-preview",
            "--preview-only",
            "--from",
            "--diff",
            "-m",
            "--message",
            "--properties",
            "--config-file",
            "--suppress-outputs",
            "-j",
            "--json",
        }
    ),
    "stack init": frozenset(
        {*_STACK, "--secrets-provider", "--copy-config-from", "--no-select", "--teams"}
    ),
    "stack select": frozenset({*_STACK, "-c", "--create", "--secrets-provider"}),
    "stack export": frozenset({*_STACK, "--file", "--show-secrets", "--version"}),
    "stack import": frozenset({*_STACK, "--file", "-f", "--force"}),
    "stack history": frozenset(
        {*_STACK, "-j", "--json", "--show-secrets", "--page", "--page-size", "--full-dates"}
    ),
    "stack ls": frozenset({"-a", "--all", "-j", "--json", "-o", "--organization", "-p"}),
    "stack rm": frozenset({*_STACK, "-f", "--force", "-y", "--yes", "--preserve-config"}),
    "stack output": frozenset({*_STACK, "-j", "--json", "--show-secrets", "--shell"}),
    "stack change-secrets-provider": frozenset({*_STACK}),
    "config set": frozenset(
        {*_STACK, "--path", "--secret", "--plaintext", "--config-file", "--type"}
    ),
    "config get": frozenset({*_STACK, "--path", "-j", "--json", "--config-file"}),
    "config rm": frozenset({*_STACK, "--path", "--config-file"}),
    "config refresh": frozenset({*_STACK, "-f", "--force"}),
    "config": frozenset({*_STACK, "-j", "--json", "--show-secrets", "--config-file", "--open"}),
    "state unprotect": frozenset({*_STACK, "--all", "-y", "--yes", "--target-dependents"}),
    "state protect": frozenset({*_STACK, "--all", "-y", "--yes"}),
    "state delete": frozenset({*_STACK, "--force", "-y", "--yes", "--target-dependents", "--all"}),
    "state rename": frozenset({*_STACK, "-y", "--yes"}),
    "login": frozenset({"-c", "--cloud-url", "--default-org", "--insecure", "-l", "--local"}),
    "logout": frozenset({"-a", "--all", "-c", "--cloud-url", "-l", "--local"}),
    "cancel": frozenset({*_STACK, "-y", "--yes"}),
    "whoami": frozenset({"-j", "--json"}),
    "version": frozenset(),
    "about": frozenset({*_STACK, "-j", "--json", "-t", "--transitive"}),
    "plugin ls": frozenset({"-p", "--project", "-j", "--json"}),
    "policy publish": frozenset(),
}

_PLACEHOLDER = re.compile(r"<[^>]*>|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\$\(")
_URN = re.compile(r"urn:pulumi:[^\s'\"`)|]+")
_FENCE = re.compile(r"^\s*```")
_INLINE = re.compile(r"`([^`]+)`")
_SEPARATORS = re.compile(r"\s*(?:&&|\|\||;|\|)\s*")


@dataclass(frozen=True)
class Found:
    """A command or URN, where it was written."""

    path: Path
    line: int
    text: str

    def where(self, repo: Path) -> str:
        shown = self.path.relative_to(repo) if self.path.is_relative_to(repo) else self.path
        return f"{shown}:{self.line}"


def documents(repo: Path = REPO_ROOT) -> list[Path]:
    return [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]


def _code_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Lines of fenced code blocks (continuations joined) and inline code spans, by line."""
    fenced = False
    pending: tuple[int, str] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            start, text = pending if pending else (number, "")
            text += line.rstrip().removesuffix("\\") + " "
            if line.rstrip().endswith("\\"):
                pending = (start, text)
                continue
            pending = None
            yield start, text.strip()
        else:
            for span in _INLINE.findall(line):
                yield number, span


def commands(path: Path) -> Iterator[Found]:
    for number, text in _code_lines(path):
        for part in _SEPARATORS.split(re.sub(r"(^|\s)#.*$", "", text.strip())):
            command = part.strip().removeprefix("$ ")
            if command.startswith("pulumi "):
                yield Found(path, number, command)


def urns(path: Path) -> Iterator[Found]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for match in _URN.finditer(line):
            yield Found(path, number, match.group(0))


def _placeholder(value: str) -> bool:
    return _PLACEHOLDER.search(value) is not None


@cache
def _plan(directory: Path, stack: str) -> Plan:
    return plan_stack(stack, repo=directory)


def urn_problem(urn: str, repo: Path = REPO_ROOT, directory: Path | None = None) -> str | None:
    """Why `urn` names no resource of the offline plan of its stack (None: it does)."""
    parts = urn.split("::")
    if len(parts) < 4 or not parts[0].startswith("urn:pulumi:"):
        return f"{urn}: not a URN (urn:pulumi:<stack>::<project>::<type>::<name>)"
    stack, project = parts[0].removeprefix("urn:pulumi:"), parts[1]
    directory = directory or _project_dir(project, repo)
    if directory is None:
        return f"{urn}: no Pulumi project named {project!r} in this repository"
    if stack not in stacks(directory):
        return f"{urn}: no stack {stack!r} (stack files: {', '.join(stacks(directory))})"
    if urn not in _plan(directory, stack).by_urn():
        return f"{urn}: no such resource in the offline plan of {stack}"
    return None


def _project_dir(name: str, repo: Path) -> Path | None:
    for project_file in sorted(repo.glob("**/Pulumi.yaml")):
        if ".venv" in project_file.parts or "build" in project_file.parts:
            continue
        if load_project(project_file.parent).name == name:
            return project_file.parent
    return None


def _flag_values(tokens: list[str]) -> Iterator[tuple[str, str | None]]:
    """(flag, value) pairs; `--a=b` and `--a b` (the value: the next non-flag token)."""
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.startswith("-"):
            flag, eq, value = token.partition("=")
            if eq:
                yield flag, value
            elif index + 1 < len(tokens) and not tokens[index + 1].startswith("-"):
                yield flag, tokens[index + 1]
            else:
                yield flag, None
        index += 1


def _subcommand(words: list[str]) -> str | None:
    for length in (2, 1):
        name = " ".join(words[:length])
        if name in COMMAND_FLAGS:
            return name
    return None


@dataclass(frozen=True)
class Command:
    """A parsed `pulumi ...` line: subcommand, flags, positional words, project directory."""

    text: str
    name: str
    flags: dict[str, str | None]
    words: list[str]
    directory: Path

    @property
    def stack(self) -> str | None:
        stack = self.flags.get("-s") or self.flags.get("--stack")
        if self.name == "stack init" and stack is None and len(self.words) > 2:
            return self.words[2]
        return stack


def parse_command(text: str, repo: Path = REPO_ROOT) -> Command | str:
    """The command, or why it is not one."""
    try:
        tokens = shlex.split(text)[1:]
    except ValueError as error:
        return f"{text}: cannot be parsed as a shell command ({error})"
    flags = dict(_flag_values(tokens))
    cwd = flags.get("-C") or flags.get("--cwd")
    words = [t for t in tokens if not t.startswith("-") and t != cwd]
    name = _subcommand(words)
    if name is None:
        return f"{text}: `pulumi {' '.join(words[:2])}` is not a Pulumi CLI command"
    return Command(text, name, flags, words, repo / cwd if cwd else repo)


def command_problems(text: str, repo: Path = REPO_ROOT) -> list[str]:
    """Problems of one `pulumi ...` command line (empty: it would run as written)."""
    command = parse_command(text, repo)
    if isinstance(command, str):
        return [command]
    problems = [
        f"{text}: {flag} is not a flag of `pulumi {command.name}`"
        for flag in command.flags
        if flag not in COMMAND_FLAGS[command.name] and flag not in GLOBAL_FLAGS
    ]
    if not (command.directory / "Pulumi.yaml").is_file():
        return [*problems, f"{text}: {command.directory} has no Pulumi.yaml"]
    return problems + [f"{text}: {p}" for p in _reference_problems(command, repo)]


def _reference_problems(command: Command, repo: Path) -> Iterator[str]:
    """What the command names: its stack, files, URNs and config keys."""
    stack, directory = command.stack, command.directory
    known = stacks(directory)
    if stack and not _placeholder(stack) and stack not in known:
        yield f"no stack {stack!r} in {directory.name} ({', '.join(known)})"
    for flag in ("--file", "-f", "--policy-pack-config", "--policy-pack"):
        value = command.flags.get(flag)
        if flag == "-f" and command.name != "import":
            continue
        if command.name == "stack export":  # --file is what it writes
            continue
        if value and not _placeholder(value) and not _path_known(directory, value):
            yield f"{flag} {value}: no such file, and no make target writes it"
    for urn in _URN.findall(command.text):
        if (problem := urn_problem(urn, repo, directory)) is not None:
            yield problem
        elif stack and not _placeholder(stack) and urn.split("::")[0] != f"urn:pulumi:{stack}":
            yield f"the URN is of another stack than -s {stack}"
    if command.name == "config set" and len(command.words) > 2:
        key = command.words[2]
        if not _placeholder(key):
            yield from _config_key_problems(directory, key)


def _path_known(directory: Path, value: str) -> bool:
    """A file of the repository, or one a make target writes under build/."""
    return (directory / value).exists() or value.startswith("build/")


def _config_key_problems(directory: Path, key: str) -> list[str]:
    project = load_project(directory)
    root = re.split(r"[.\[]", key, maxsplit=1)[0]
    namespace = root.split(":", 1)[0] if ":" in root else project.name
    if namespace != project.name:
        return []
    declared = {d if ":" in d else f"{project.name}:{d}" for d in project.config}
    if (root if ":" in root else f"{project.name}:{root}") not in declared:
        return [f"{root} is not declared in {directory.name}/Pulumi.yaml"]
    return []


def problems(repo: Path = REPO_ROOT) -> list[str]:
    found: list[str] = []
    for path in documents(repo):
        for command in commands(path):
            found += [f"{command.where(repo)}: {p}" for p in command_problems(command.text, repo)]
        for urn in urns(path):
            if (problem := urn_problem(urn.text, repo)) is not None:
                found.append(f"{urn.where(repo)}: {problem}")
    return sorted(set(found))


def main() -> int:
    found = problems()
    print("\n".join(found) if found else "every documented command and URN checks out")
    return 1 if found else 0


if __name__ == "__main__":
    finish(main())
