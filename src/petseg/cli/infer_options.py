"""Options shared by the commands that run trained models (predict, calibrate, segment --model)."""

from __future__ import annotations

import typer

from petseg.errors import PetsegError

DEVICE = typer.Option("auto", "--device", help="auto, cpu or cuda.")
OVERLAP = typer.Option(None, "--overlap", help="Sliding-window overlap (default: the recipe's).")
TTA = typer.Option("", "--tta", help="Test-time flips: axes among x, y, z, every combination run "
                   "(e.g. --tta xyz: 8 passes).")
ENSEMBLE = typer.Option("mean", "--ensemble", help="Combine models by mean probability or majority vote.")
GATE_SUV = typer.Option(None, "--gate-suv", help="Skip windows without a voxel of at least this SUV (default "
                        "1.5 FDG, 1.0 PSMA; 0 runs every window).")
THRESHOLD = typer.Option(None, "--threshold", help="Probability threshold (default: the calibrated one).")
BATCH = typer.Option(2, "--batch", help="Windows per network pass.")
BF16 = typer.Option(False, "--bf16", help="bfloat16 on CPUs that support it natively.")


def inference_options(device: str, overlap: float | None, tta: str, ensemble: str, gate_suv: float | None,
                      threshold: float | None, batch: int, bf16: bool):
    """InferenceOptions from the command line."""
    from petseg.infer.predictor import InferenceOptions, flip_sets

    letters = tta.lower().replace(",", "")
    if any(c not in "xyz" for c in letters):
        raise PetsegError(f"--tta takes axes among x, y, z (e.g. xyz), got {tta!r}")
    if batch < 1:
        raise PetsegError(f"--batch must be at least 1, got {batch}")
    if overlap is not None and not 0.0 <= overlap < 1.0:
        raise PetsegError(f"--overlap is a fraction in [0, 1), got {overlap}")
    axes = ["zyx".index(c) for c in letters]
    return InferenceOptions(device=device, overlap=overlap, batch_size=batch, flips=flip_sets(axes),
                            ensemble=ensemble, gate_suv=gate_suv, bf16=bf16, threshold=threshold)
