"""What to tell the user about a checkpoint before restoring: the operator it was trained for,
and the noise level it restores at. Returned as "note: ..." / "warning: ..." lines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowrestore.operators import TaskSpec
from flowrestore.solving import noise_conditioned

if TYPE_CHECKING:
    from flowrestore.restore_files import RestoreOptions


def model_notes(loaded, name: str, spec: TaskSpec, options: RestoreOptions) -> list[str]:
    """What to tell the user about the checkpoint before restoring: its operator and noise level."""
    trained = loaded.metadata.get("task")
    notes = []
    if trained:
        warning = operator_warning(TaskSpec.from_dict(trained), spec, name)
        notes += [warning] if warning else []
    if options.mask is not None and spec.task == "inpaint" and not (loaded.metadata.get("training") or {}).get("box_jitter"):
        notes.append(f"warning: {name} was trained on one hole only, the paper's centre box of a 64x64 face; "
                     "other holes restore poorly (docs/results/inpaint-position.md)")
    return notes + sigma_notes(loaded, name, spec, options.sigma, options.degrade)


def operator_warning(trained: TaskSpec | None, spec: TaskSpec, name: str) -> str | None:
    """A note when the measurement operator differs from the one the checkpoint was trained for."""
    if trained is None or spec.task != trained.task:
        return f"note: {name} was trained for {trained.label() if trained else 'an unrecorded task'}, not {spec.label()}"
    if not spec.same_operator(trained):
        return f"warning: {name} was trained for {trained.label()}; restoring {spec.label()} is outside its training"
    return None


def sigma_notes(loaded, name: str, spec: TaskSpec, sigma: float | None, degrade: bool) -> list[str]:
    """What to tell the user about the noise level before restoring."""
    if spec.task != "denoise" and not noise_conditioned(loaded.model):
        return []
    if noise_conditioned(loaded.model):
        low, high = loaded.metadata.get("sigma_range", (None, None))
        if sigma is not None and low is not None and not low <= sigma <= high:
            return [f"warning: {name} was trained for noise sigma {low:g} to {high:g}; {sigma:g} is outside"]
        return []
    trained = (loaded.metadata.get("task") or {}).get("noise_sigma")
    if sigma is not None and not degrade and trained is not None and abs(sigma - trained) > 1e-9:
        return [f"note: {name} restores at the one noise level it was trained for (sigma {trained:g}); "
                "a noise-conditioned model (the shipped glow-denoise) follows --sigma"]
    return []
