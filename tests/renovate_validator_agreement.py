"""Run the real renovate-config-validator on renovate.json, on every mistake
tests/test_renovate_config.py catches (MUTATIONS) and on every variation it must accept (ACCEPTED),
and report where the real verdict differs from the offline checks'.

Needs the validator CI runs, installed as the `renovate-config` job of .github/workflows/pr.yml
does (Node 24, then in .github/renovate-validator: `npm ci --ignore-scripts && npm rebuild re2`).
Not part of `make test` (it needs Node 24 and the npm registry); run it after a Renovate bump:

    .venv/bin/python -m tests.renovate_validator_agreement
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests import test_renovate_config as offline
from tests.test_renovate import CONFIG

VALIDATOR = (
    Path(__file__).resolve().parent.parent
    / ".github/renovate-validator/node_modules/renovate/dist/config-validator.js"
)


def real_exit_code(config: dict[str, Any], folder: Path) -> int:
    """renovate-config-validator --strict --no-global on `config`; fails if RE2 is not loaded."""
    path = folder / "renovate.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    done = subprocess.run(
        ["node", str(VALIDATOR), "--strict", "--no-global", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if "RE2 not usable" in done.stdout + done.stderr:
        raise SystemExit(
            "the validator runs without re2 (npm rebuild re2): its regex verdicts differ"
        )
    return done.returncode


def main() -> int:
    if not VALIDATOR.exists():
        raise SystemExit(f"{VALIDATOR} is missing: install it as pr.yml's renovate-config job does")
    cases: list[tuple[str, dict[str, Any], bool]] = [("renovate.json", CONFIG, True)]
    for name, (mutate, _) in offline.MUTATIONS.items():
        config = copy.deepcopy(CONFIG)
        mutate(config)
        cases.append((f"mutation: {name}", config, name in offline.STRICTER_THAN_VALIDATOR))
    for name, change in offline.ACCEPTED.items():
        config = copy.deepcopy(CONFIG)
        change(config)
        cases.append((f"accepted: {name}", config, True))
    differ = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, config, real_accepts in cases:
            code = real_exit_code(config, Path(tmp))
            agrees = (code == 0) == real_accepts
            differ += not agrees
            print(f"{'ok     ' if agrees else 'DIFFERS'} exit {code} {name}")
    print(f"{len(cases)} cases, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
