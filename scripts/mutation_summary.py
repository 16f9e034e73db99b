"""One module's mutation figures from mutmut's verdicts (mutants/**/*.py.meta); run by scripts/mutation.

Prints: module, mutants, killed, survived, timed out, no tests, not checked, score, where
score = (killed + timed out) / mutants: a mutant that makes the tests hang is caught by the
timeout, and one that no test runs ("no tests") or that was not reached ("not checked")
counts against the score. Writes the survivors' names to mutants/survivors-<module>.txt
(`mutmut show NAME` shows each one's diff).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

# mutmut 3's exit codes (mutmut.stats.status_by_exit_code), grouped as this summary reports them.
KILLED = {1, 3, -11, -9, 37}  # test failure, pytest internal error, crash, type check
TIMEOUT = {36, -24, 24, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}


def verdict(code: int | None) -> str:
    if code is None:
        return "not checked"
    for name, codes in (("killed", KILLED), ("timed out", TIMEOUT), ("survived", SURVIVED), ("no tests", NO_TESTS)):
        if code in codes:
            return name
    return "suspicious"


def verdicts(module: str) -> dict[str, int | None]:
    root = Path("mutants") / "onboarding"
    metas = sorted((root / "api").glob("*.py.meta")) if module == "api" else [root / f"{module}.py.meta"]
    codes: dict[str, int | None] = {}
    for meta in metas:
        if meta.exists():
            codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    return codes


def pending(module: str) -> int:
    """The mutants still to check: never checked, survived, no tests, suspicious (all of them before a first run)."""
    codes = verdicts(module)
    names = [k for k, c in codes.items() if verdict(c) not in ("killed", "timed out")] if codes else []
    print("\n".join(names) if names or not codes else "", end="")
    if not codes:
        print(f"onboarding.{module}.*")
    return 0


def main(module: str) -> int:
    codes = verdicts(module)
    counts = Counter(verdict(code) for code in codes.values())
    total = len(codes)
    caught = counts["killed"] + counts["timed out"]
    score = f"{100 * caught / total:.1f}%" if total else "-"
    print(f"{module:12} mutants {total:4}  killed {counts['killed']:4}  survived {counts['survived']:4}  "
          f"timed out {counts['timed out']:3}  no tests {counts['no tests']:3}  "
          f"not checked {counts['not checked']:3}  suspicious {counts['suspicious']:2}  score {score}")
    survivors = sorted(k for k, c in codes.items() if verdict(c) in ("survived", "no tests"))
    Path("mutants", f"survivors-{module}.txt").write_text("".join(f"{s}\n" for s in survivors))
    return 0


if __name__ == "__main__":
    sys.exit(pending(sys.argv[2]) if sys.argv[1] == "--pending" else main(sys.argv[1]))
