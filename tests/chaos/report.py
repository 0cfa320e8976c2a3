"""``python -m tests.chaos.report [RESULTS]``: the latest figures of each scenario, per
transport and size, as the Markdown tables of docs/reliability.md."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# The same default as tests.chaos.harness.RESULTS (imported without Django).
RESULTS = Path(os.environ.get("JQ_CHAOS_RESULTS")
               or Path(__file__).resolve().parents[2] / ".chaos" / "results.jsonl")

SKIP = {"scenario", "transport", "size", "at", "lost_ids", "duplicate_attempts"}


def main(path: str = str(RESULTS)) -> None:
    latest: dict[tuple[str, str, str], dict] = {}
    with open(path) as fh:
        for line in fh:
            entry = json.loads(line)
            latest[(entry["scenario"], entry["size"], entry["transport"])] = entry
    for scenario in sorted({key[0] for key in latest}, key=lambda s: int(s.split("-")[0])):
        for size in ("ci", "full"):
            runs = {t: e for (s, z, t), e in latest.items() if s == scenario and z == size}
            if not runs:
                continue
            names = sorted(runs)
            print(f"\n**{scenario}** ({size} size, {runs[names[0]]['at'][:10]})\n")
            print("| figure | " + " | ".join(names) + " |")
            print("|---|" + "---|" * len(names))
            keys = [k for k in runs[names[0]] if k not in SKIP]
            for key in keys:
                cells = [json.dumps(runs[n].get(key)).replace("|", "\\|") for n in names]
                print(f"| {key} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:])
