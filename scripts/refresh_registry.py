"""Write the sha256 of the bundled weights (and, given a JSON file, metrics) into both registries,
and re-render the README's results table, through flowrestore.shipping (no text edits of TOML).

    python scripts/refresh_registry.py [--metrics results.json] [--reports]

results.json maps checkpoint name -> {metric: value}; the values replace that row's metrics.
--reports also rewrites docs/results' Table I and IV reports that no longer measure the shipped files
(flowrestore.shipping.reports; the benchmark runs on the CPU, a few minutes), e.g. after a GPU window,
whose pipelines leave them to this.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from flowrestore.checkpoints import sha256_of
from flowrestore.shipping import readme, registry_file, reports
from flowrestore.shipping.transaction import replace_files

ROOT = Path(__file__).resolve().parents[1]
REGISTRIES = [ROOT / "flowrestore" / "checkpoints.toml", ROOT / "checkpoints.toml"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--metrics", type=Path)
    ap.add_argument("--reports", action="store_true", help="rewrite the stale docs/results reports too")
    args = ap.parse_args()
    metrics = json.loads(args.metrics.read_text()) if args.metrics else {}
    head, rows = registry_file.read(REGISTRIES[0])
    for row in rows:
        changes = {}
        if row.get("file") and (ROOT / "flowrestore" / row["file"]).exists():
            changes["sha256"] = sha256_of(ROOT / "flowrestore" / row["file"])
        if row["name"] in metrics:
            changes["metrics"] = metrics[row["name"]]
        rows = registry_file.update_row(rows, row["name"], **changes)
    text = registry_file.render(head, rows).encode()
    contents = {p: text for p in REGISTRIES}
    contents[ROOT / "README.md"] = readme.replace_block((ROOT / "README.md").read_text(encoding="utf-8"), rows).encode()
    replace_files(ROOT, contents)
    if args.reports:
        for path in reports.refresh(ROOT):
            print(f"rewrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
