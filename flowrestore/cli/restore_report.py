"""What `flowrestore restore` prints: the summary, scores, noise levels, faces, and the --json document."""

from __future__ import annotations

from pathlib import Path

from flowrestore.cli.ui import info, note, stdout


def speed(count: int, seconds: float) -> str:
    """Images per second, or seconds per image when that reads better (a large photo takes many seconds)."""
    if seconds > count:
        return f"{seconds / count:.1f} s per image"
    rate = count / seconds if seconds > 0 else float("inf")
    return f"{rate:.1f} images/s"


def print_summary(run, output: Path | None, say) -> None:
    """How many images, how fast, where to; and how face-like they came out."""
    count, seconds = len(run.files), run.seconds
    if not count:
        say(f"nothing to restore: the result of every input exists ({len(run.skipped)} skipped)")
        return
    where = output if output is not None else "next to the inputs"
    say(
        f"restored {count} image{'s' * (count != 1)} ({run.label}, {run.checkpoint}) "
        f"in {seconds:.2f} s, {speed(count, seconds)} on {run.device.type} -> {where}"
    )
    scores = [row.likeness for row in run.files]
    unusual = sum(score.unusual for score in scores)
    bpd = sum(score.bits_per_dim for score in scores) / len(scores)
    say(
        f"face-likeness under celeba-prior (docs/likeness.md): {bpd:.2f} bits/dim on average"
        + (f"; {unusual} unlike the training faces" if unusual else "")
    )


def print_faces(files, say) -> None:
    """How many faces each image had, where, at what scale, and how face-like each came out."""
    for row in files:
        found = row.restoration.faces
        if not found:
            say(f"{row.input.name}: no face found; restored as a whole")
            continue
        for i, (face, likeness) in enumerate(zip(found, row.face_likeness), 1):
            frame = face.frame
            say(f"{row.input.name}: face {i} at ({frame.x:.0f}, {frame.y:.0f}), {frame.side:.0f} px "
                f"(x{frame.scale:.2f} the prior's frame), {likeness.bits_per_dim:.2f} bits/dim"
                + (" (unlike the training faces)" if likeness.unusual else ""))
        if row.face_figure is not None:
            say(f"{row.input.name}: face frames drawn in {row.face_figure}")


def json_summary(run, degrade: bool) -> dict:
    """The --json document."""
    summary = {
        "checkpoint": run.checkpoint, "task": run.task.to_dict(), "device": run.device.type,
        "seconds": round(run.seconds, 3), "images": [json_row(row) for row in run.files],
        "skipped": [str(path) for path in run.skipped],
    }
    if degrade and run.files:
        results = [row.restoration for row in run.files]
        summary["mean"] = {"psnr": sum(r.psnr for r in results) / len(results)}
        ssims = [r.ssim for r in results if r.ssim is not None]
        if ssims:
            summary["mean"]["ssim"] = sum(ssims) / len(ssims)
    return summary


def json_row(file) -> dict:
    """One image's entry of the --json summary."""
    result, likeness = file.restoration, file.likeness
    row = {"input": str(file.input), "output": str(file.output),
           "comparison": str(file.comparison) if file.comparison else None,
           "bits_per_dim": round(likeness.bits_per_dim, 4), "unusual": bool(likeness.unusual)}
    if result.sigma is not None:
        row.update(sigma=round(result.sigma, 5), sigma_estimated=result.sigma_estimated)
    if result.sigma_seen is not None:
        row["sigma_seen"] = round(result.sigma_seen, 5)  # estimated beside the --sigma given
    if result.psnr is not None:
        row.update(psnr=result.psnr, ssim=result.ssim)
    if not result.by_model:
        row["model"] = False  # inpainting holes all narrow: filled by biharmonic interpolation alone
    if result.faces:
        row["faces"] = [{"frame": [round(f.frame.x, 1), round(f.frame.y, 1), round(f.frame.side, 1)],
                         "box": [round(v, 1) for v in (f.box.x, f.box.y, f.box.width, f.box.height)],
                         "bits_per_dim": round(score.bits_per_dim, 4), "unusual": bool(score.unusual)}
                        for f, score in zip(result.faces, file.face_likeness)]
    return row


def print_sigmas(files, say=info) -> None:
    """The noise level estimated in each image (no --sigma): the level a noise-conditioned model
    restored at; for a fixed-level denoiser, for information (its run's notes say what it means)."""
    estimated = [(f.input, f.restoration.sigma) for f in files if f.restoration.sigma_estimated]
    if not estimated:
        return
    if len(estimated) <= 8:
        for path, level in estimated:
            say(f"estimated noise sigma {level:.3f} (of [0, 1] pixel values): {path.name}")
        return
    levels = [level for _, level in estimated]
    say(f"estimated noise sigma {min(levels):.3f} to {max(levels):.3f} (mean {sum(levels) / len(levels):.3f}) "
         f"over {len(levels)} images; pass --sigma to set it")


def print_scores(files) -> None:
    from flowrestore.metrics import ssim_available

    if not files:
        return
    out = stdout()
    width = max(len(f.input.name) for f in files)
    results = [f.restoration for f in files]
    for file, result in zip(files, results):
        line = f"{file.input.name:<{width}}  PSNR {result.psnr:6.2f} dB"
        if result.ssim is not None:
            line += f"  SSIM {result.ssim:.4f}"
        out.print(line, markup=False)
    psnrs = [r.psnr for r in results]
    ssims = [r.ssim for r in results if r.ssim is not None]
    line = f"{'mean':<{width}}  PSNR {sum(psnrs) / len(psnrs):6.2f} dB"
    if ssims:
        line += f"  SSIM {sum(ssims) / len(ssims):.4f}"
    out.print(line, markup=False)
    if not ssim_available():
        note("note: SSIM skipped: scikit-image is not installed (pip install scikit-image)")
