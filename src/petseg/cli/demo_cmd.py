"""`petseg demo`: a synthetic study, start to finish."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from petseg.cli.app import app
from petseg.console import console, info, results


@app.command(epilog="Example: petseg demo -o demo_out")
def demo(
    out: Path = typer.Option(Path("demo_out"), "-o", "--out", help="Output folder."),
    size: str = typer.Option("full", "--size", help="full (autoPET geometry) or small."),
    tracer: str = typer.Option("fdg", "--tracer", help="fdg or psma."),
    seed: int = typer.Option(7, "--seed", help="Random seed of the study."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the results of an earlier demo."),
) -> None:
    """Generate one synthetic whole-body study and show what it holds."""
    from petseg.data.phantom import make_phantom_study
    from petseg.data.phantom.generate import write_phantom_case
    from petseg.io.outdir import prepare_output_dir

    out = prepare_output_dir(out, overwrite)
    start = time.perf_counter()
    with console.status("generating a synthetic study"):
        phantom = make_phantom_study(seed=seed, tracer=tracer, size=size, n_lesions=8)
        files = write_phantom_case(phantom, out / phantom.case)
    suv = phantom.study.suv
    info(f"{phantom.tracer.upper()} study {phantom.case}: {suv.shape[2]} x {suv.shape[1]} x {suv.shape[0]} voxels "
         f"of {' x '.join(f'{s:.3g}' for s in suv.spacing)} mm, made in {time.perf_counter() - start:.1f} s")
    organs = Table(title="Organs (physiological uptake)")
    for column in ("organ", "volume ml", "SUV"):
        organs.add_column(column, justify="left" if column == "organ" else "right")
    for name, values in sorted(phantom.organs.items(), key=lambda item: -item[1]["suv"]):
        organs.add_row(name, f"{values['volume_ml']:.1f}", f"{values['suv']:.2f}")
    lesions = Table(title=f"Lesions ({len(phantom.lesions)}); hot spots that are not lesions: "
                          f"{', '.join(phantom.hot_spots) or 'none'}")
    for column in ("id", "site", "diameter mm", "volume ml", "SUVmax"):
        lesions.add_column(column, justify="left" if column == "site" else "right")
    for lesion in phantom.lesions:
        lesions.add_row(str(lesion.id), lesion.site, f"{lesion.diameter_mm:.1f}", f"{lesion.volume_ml:.2f}",
                        f"{lesion.suvmax:.2f}")
    results.print(organs)
    results.print(lesions)
    typer.echo(f"PET {files.pet}\nCT {files.ct}\nlabel {files.label}")
