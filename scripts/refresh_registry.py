"""Write the sha256 (and, given a results JSON, the metrics) of bundled weights into checkpoints.toml.

    python scripts/refresh_registry.py [--metrics results.json]

results.json maps checkpoint name -> {metric: value}. Both copies of the registry
(flowrestore/checkpoints.toml and the top-level checkpoints.toml) are rewritten.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "flowrestore" / "checkpoints.toml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--metrics", type=Path)
    args = ap.parse_args()
    metrics = json.loads(args.metrics.read_text()) if args.metrics else {}
    text = REGISTRY.read_text()
    blocks = text.split("\n[[checkpoint]]\n")
    for i, block in enumerate(blocks[1:], start=1):
        name = re.search(r'^name = "([^"]+)"', block, re.M).group(1)
        file = re.search(r'^file = "([^"]+)"', block, re.M)
        if file and (REGISTRY.parent / file.group(1)).exists():
            digest = hashlib.sha256((REGISTRY.parent / file.group(1)).read_bytes()).hexdigest()
            block = re.sub(r'^sha256 = ".*"$', f'sha256 = "{digest}"', block, flags=re.M)
        if name in metrics:
            inline = ", ".join(f"{k} = {json.dumps(v)}" for k, v in metrics[name].items())
            block = re.sub(r"^metrics = .*$", f"metrics = {{ {inline} }}", block, flags=re.M)
        blocks[i] = block
    text = "\n[[checkpoint]]\n".join(blocks)
    REGISTRY.write_text(text)
    (ROOT / "checkpoints.toml").write_text(text)


if __name__ == "__main__":
    main()
