"""Pack the training data for a device call: .gpu/celeba64.tar.gz holding train/ and val/.

A device call carries the working tree (tracked and untracked, not ignored, files) and its carried
paths, 64 MiB in all. The tar gets what the tree leaves, less a margin: all of val/ (the shipping
decision scores on it), and as many training faces as fit, the rest dropped evenly (every k-th file
in name order) when the whole set does not. Prints how many faces it packed and the sizes.

    python3 scripts/pack_device_data.py [--data ../shared/data/celeba64] [--out .gpu/celeba64.tar.gz]
"""

from __future__ import annotations

import argparse
import tarfile
from pathlib import Path

from flowrestore.shipping.tree_size import tracked_bytes

CARRY_LIMIT = 64 * 2**20
MARGIN = 2**20  # room for files the tree gains before the next window


def thin(files: list[Path], keep: int) -> list[Path]:
    """`keep` of `files`, spread evenly over them."""
    if keep >= len(files):
        return files
    return [files[i * len(files) // keep] for i in range(keep)]


def pack(out: Path, data: Path, train: list[Path]) -> int:
    tmp = out.with_suffix(".part")
    with tarfile.open(tmp, "w:gz") as tar:
        for path in sorted((data / "val").iterdir()):
            tar.add(path, arcname=f"val/{path.name}")
        for path in train:
            tar.add(path, arcname=f"train/{path.name}")
    tmp.replace(out)
    return out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    repo = Path(__file__).resolve().parents[1]
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data" / "celeba64")
    parser.add_argument("--out", type=Path, default=repo / ".gpu" / "celeba64.tar.gz")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    budget = CARRY_LIMIT - MARGIN - tracked_bytes(repo, untracked=True)
    everything = sorted(p for p in (args.data / "train").iterdir() if p.is_file())
    train = everything
    size = pack(args.out, args.data, train)
    while size > budget:  # the sizes are near proportional to the file count: shrink, with 1 % to spare
        train = thin(everything, int(len(train) * budget / size * 0.99))
        size = pack(args.out, args.data, train)
    print(f"{args.out}: {len(train)} of {len(everything)} training faces and val/, {size / 1e6:.1f} MB; "
          f"tree {(CARRY_LIMIT - MARGIN - budget) / 1e6:.1f} MB; carry limit {CARRY_LIMIT / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
