"""Checks a kosoku report (index.json): the verdicts .ci/autobahn requires.

Usage: autobahn_check.py INDEX_JSON NAME. Exits 1, listing the cases at fault, unless every
case's behavior is OK, or INFORMATIONAL, or NON-STRICT outside section 6, and every close
behavior is OK or INFORMATIONAL. Prints the verdict counts.
"""

import collections
import json
import sys


def main() -> int:
    path, name = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as index:
        agents = json.load(index)
    cases = {case: verdict for results in agents.values() for case, verdict in results.items()}
    if not cases:
        print(f"{name}: no case ran", file=sys.stderr)
        return 1
    counts = collections.Counter(verdict["behavior"] for verdict in cases.values())
    bad = []
    for case, verdict in sorted(cases.items(), key=lambda kv: [int(p) for p in kv[0].split(".")]):
        behavior, close = verdict["behavior"], verdict["behaviorClose"]
        allowed = {"OK", "INFORMATIONAL"} | (set() if case.startswith("6.") else {"NON-STRICT"})
        if behavior not in allowed or close not in {"OK", "INFORMATIONAL"}:
            bad.append(f"  {case}: behavior={behavior}, behaviorClose={close}")
    summary = ", ".join(f"{count} {verdict}" for verdict, count in sorted(counts.items()))
    print(f"{name}: {len(cases)} cases: {summary}")
    if bad:
        print(f"{name}: {len(bad)} cases not passed as required:", file=sys.stderr)
        print("\n".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
