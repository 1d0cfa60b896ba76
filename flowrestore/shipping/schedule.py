"""Each model's learning rate in the pipeline: the recipe's times a scale kept in the state folder.

A round that ships nothing (its candidate did not beat the shipped file on validation: a plateau,
or a run that diverged) halves the model's scale, down to FLOOR; the next slice then starts a new
run from the shipped weights at the lower rate (flowrestore.shipping.continuation). A shipment
keeps the scale. The scale scales the flow weights' rate only: the step sizes and shrinkages keep
the recipe's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

SCHEDULE = "schedule.json"
FLOOR = 1 / 16  # 1e-4 on the CPU recipe becomes at least 6.25e-6, the paper's order (1e-5)


def _read(state_root: Path) -> dict:
    path = Path(state_root) / SCHEDULE
    return json.loads(path.read_text()) if path.exists() else {}


def lr_scale(state_root: Path, name: str) -> float:
    """The scale of model `name`'s learning rate: 1 until a round or a person lowered it."""
    return float(_read(state_root).get(name, {}).get("lr_scale", 1.0))


def set_lr_scale(state_root: Path, name: str, scale: float, why: str) -> None:
    """Record `scale` for `name`, with why, in the state folder's schedule."""
    if not 0 < scale <= 1:
        raise ValueError(f"a learning-rate scale must lie in (0, 1], got {scale}")
    schedule = _read(state_root)
    entry = schedule.setdefault(name, {"lr_scale": 1.0, "history": []})
    entry["lr_scale"] = scale
    entry["history"].append({"lr_scale": scale, "why": why, "at": time.strftime("%Y-%m-%d %H:%M:%S")})
    Path(state_root).mkdir(parents=True, exist_ok=True)
    (Path(state_root) / SCHEDULE).write_text(json.dumps(schedule, indent=1))


def after_round(state_root: Path, name: str, decision: dict) -> float:
    """The scale for `name`'s next slice after a round's `decision` (pipeline.decide's record):
    halved when a scored candidate was kept, unchanged otherwise."""
    scale = lr_scale(state_root, name)
    scored = decision.get("candidate") is not None
    if decision.get("event") == "kept" and scored and scale > FLOOR:
        new = max(FLOOR, scale / 2)
        set_lr_scale(state_root, name, new, f"validation {decision['candidate']} did not beat the shipped "
                                            f"{decision.get('shipped')}")
        return new
    return scale
