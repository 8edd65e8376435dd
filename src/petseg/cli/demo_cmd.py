"""`petseg demo`: the whole flow on a synthetic study, start to finish."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from petseg.cli import common
from petseg.cli.app import app
from petseg.console import info, step


@app.command(epilog="Example: petseg demo -o demo_out")
def demo(
    out: Path = typer.Option(Path("demo_out"), "-o", "--out", help="Output folder."),
    size: str = typer.Option("full", "--size", help="full (autoPET geometry) or small."),
    tracer: str | None = common.TRACER,
    seed: int = typer.Option(7, "--seed", help="Random seed of the study."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the results of an earlier demo."),
) -> None:
    """Make a synthetic whole-body study, segment it with the SUV method, score it against its truth, report."""
    from petseg.api import segment, write_results
    from petseg.cli.common import print_summary
    from petseg.data.phantom import make_phantom_study
    from petseg.data.phantom.generate import write_phantom_case
    from petseg.io.atomic import write_json_atomic
    from petseg.io.outdir import check_output_dir, staged_output_dir
    from petseg.metrics.evaluate import cohort_report
    from petseg.tracers import DEFAULT_TRACER, tracer_named

    check_output_dir(out, overwrite)
    tracer = tracer_named(tracer or DEFAULT_TRACER).name
    start = time.perf_counter()
    timings: dict[str, float] = {}
    with staged_output_dir(out, overwrite) as staging:
        with step("making a synthetic study", timings):
            phantom = make_phantom_study(seed=seed, tracer=tracer, size=size, n_lesions=8)
            files = write_phantom_case(phantom, staging / "study")
        phantom.study.meta.update({key: str(out / "study" / path.name) for key, path in
                                   (("pet_path", files.pet), ("ct_path", files.ct), ("label_path", files.label))})
        result = segment(phantom.study)  # PET, CT and truth, as written to study/; the study carries its tracer
        result.timings = {**timings, **result.timings}
        written = write_results(result, staging, title=f"synthetic {tracer.upper()} study {phantom.case}")
        write_json_atomic(staging / "metrics.json", cohort_report([result.metrics]))  # type: ignore[list-item]
    print_summary(result, out, [*written, "metrics.json", "study/"])
    suv = phantom.study.suv
    info(f"synthetic {tracer.upper()} study: {suv.shape[2]} x {suv.shape[1]} x {suv.shape[0]} voxels, "
         f"{len(phantom.lesions)} lesions placed, hot spots that are not lesions: "
         f"{', '.join(phantom.hot_spots) or 'none'}; whole demo {time.perf_counter() - start:.1f} s")
    typer.echo(f"study (ct, suv, label, phantom.json): {out / 'study'}\n"
               f"report: {out / 'report.html'}\nmetrics: {out / 'metrics.json'}")
