"""docs/disaster-recovery.md's drill table: the seven drills, each with RTO and
RPO, each proven by tests that exist, each section naming its tests under "What the drill
checks"."""

from __future__ import annotations

import re

from tests.ci_workflows import ROOT

RUNBOOK = ROOT / "docs" / "disaster-recovery.md"
DRILLS = {
    "A cluster is lost",
    "A region is lost",
    "The Pulumi state is lost",
    "Global control plane rebuilt",
    "Destroy and re-create a stack",
    "Kuma upgrade",
    "Certificate renewal",
}
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _table() -> list[list[str]]:
    text = RUNBOOK.read_text(encoding="utf-8")
    section = text.split("\n## Drills\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| [")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def _sections() -> dict[str, str]:
    text = RUNBOOK.read_text(encoding="utf-8")
    parts = re.split(r"^#{2,4} (.+)$", text, flags=re.MULTILINE)
    return {_anchor(title): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_the_table_has_the_seven_drills_with_rto_rpo_and_their_tests() -> None:
    rows = _table()
    names = {re.match(r"\[(.+?)\]", row[0])[1] for row in rows}  # type: ignore[index]
    assert names == DRILLS
    sections = _sections()
    for drill, _lost, rto, rpo, proof in rows:
        assert rto and rpo, drill
        anchor = re.match(r"\[.+?\]\(#([\w-]+)\)", drill)
        assert anchor, drill
        assert anchor[1] in sections, f"{drill}: no section #{anchor[1]}"
        refs = TEST_REF.findall(proof)
        assert refs, drill
        for path, name in refs:
            source = (ROOT / path).read_text(encoding="utf-8")
            assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"{path}::{name}"
            # The section says what each of its tests checks.
            assert name in sections[anchor[1]], f"{drill}: {name} not in its section"
        assert "**What the drill checks**" in sections[anchor[1]], drill


def test_a_reference_to_a_missing_test_is_caught() -> None:
    """The reference check can fail."""
    path, name = "tests/test_teardown.py", "test_that_does_not_exist"
    source = (ROOT / path).read_text(encoding="utf-8")
    assert not re.search(rf"^def {name}\(", source, re.MULTILINE)
    assert TEST_REF.findall(f"`{path}::{name}`") == [(path, name)]
