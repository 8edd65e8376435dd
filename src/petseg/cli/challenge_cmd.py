"""`petseg challenge`: run as an autoPET grand-challenge algorithm container."""

from __future__ import annotations

from pathlib import Path

import typer

from petseg.cli import common
from petseg.cli.app import app
from petseg.console import info


@app.command(epilog="Example: petseg challenge --input /input --output /output")
def challenge(
    input_dir: Path = typer.Option(Path("/input"), "--input", help="Challenge input folder (images/ct, images/pet)."),
    output_dir: Path = typer.Option(Path("/output"), "--output", help="Challenge output folder."),
    tracer: str | None = common.TRACER,
) -> None:
    """Segment images/pet/*.mha (+ images/ct) and write images/automated-petct-lesion-segmentation/<uuid>.mha."""
    from petseg.api import segment
    from petseg.io.challenge import challenge_case
    from petseg.io.images import write_volume

    case = challenge_case(input_dir, output_dir)
    result = segment(case.pet, case.ct, tracer=tracer)
    write_volume(result.mask, case.output)
    info(f"{len(result.quantification.lesions)} lesion(s) -> {case.output}")
