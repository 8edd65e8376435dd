"""`petseg evaluate`: autoPET metrics and lesion detection of predictions against ground truth."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.table import Table

from petseg.cli.app import app
from petseg.console import results, track
from petseg.errors import PetsegError


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


@app.command(epilog="Example: petseg evaluate --gt labels/ --pred predictions/ -o metrics.json --csv metrics.csv "
             "--html metrics.html")
def evaluate(
    pred: Path = typer.Option(..., "--pred", "-p", help="Predicted mask file, or folder of masks by case."),
    gt: Path | None = typer.Option(None, "--gt", "-g", help="Ground-truth mask file, or folder of masks by case."),
    datalist: Path | None = typer.Option(None, "--datalist", help="Take ground truth from a datalist instead."),
    split: str = typer.Option("training", "--split", help="Datalist split: training, testing or fold:K."),
    out: Path | None = typer.Option(None, "-o", "--out", help="metrics.json to write."),
    csv: Path | None = typer.Option(None, "--csv", help="Per-case CSV to write."),
    html: Path | None = typer.Option(None, "--html", help="Summary page to write: a row per case with the metrics "
                                     "and a MIP thumbnail of both masks."),
    rule: str = typer.Option("autopet3", "--rule", help="Empty ground truth: autopet3 (Dice/FNV undefined) or "
                             "autopet1 (the 2022 script)."),
    iou: float | None = typer.Option(None, "--iou", help="Match lesions one-to-one at this IoU instead of any "
                                     "overlap."),
    missing_as_empty: bool = typer.Option(False, "--missing-as-empty", help="Score cases without a prediction as "
                                          "empty predictions."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Worker processes."),
) -> None:
    """Dice, false-positive and false-negative volume (autoPET semantics) and lesion detection, per case and mean."""
    from petseg.data.datalist import load_datalist, select
    from petseg.io.atomic import write_csv_atomic, write_json_atomic
    from petseg.metrics.autopet import RULES
    from petseg.metrics.evaluate import evaluate_cohort, masks_in, missing_message, pair_cases

    if rule not in RULES:
        raise PetsegError(f"unknown --rule {rule!r}: choose {' or '.join(RULES)}")
    if (gt is None) == (datalist is None):
        raise PetsegError("give exactly one of --gt and --datalist")
    if gt is not None:
        truth = masks_in(gt)
    else:
        entries = select(load_datalist(datalist), split)  # type: ignore[arg-type]
        truth = {e.case: e.label for e in entries if e.label is not None}
    pairs, missing = pair_cases(truth, masks_in(pred), missing_as_empty)
    report = evaluate_cohort(pairs, rule, iou, jobs, lambda items: track(items, "evaluating", total=len(pairs)))
    report["missing"] = missing
    _print_table(report)
    if out is not None:
        write_json_atomic(out, report)
    if csv is not None:
        write_csv_atomic(csv, report["cases"])
    if html is not None:
        from petseg.report.summary import evaluation_summaries, write_cohort_summary

        write_cohort_summary(html, f"petseg evaluate: {pred.name}", evaluation_summaries(report, pairs))
    problems = []
    if report["failed"]:
        names = ", ".join(f["case"] for f in report["failed"][:5])
        problems.append(f"{len(report['failed'])} case(s) could not be evaluated ({names}): "
                        f"{report['failed'][0]['error']}")
    if missing:
        problems.append(missing_message(missing, len(report["cases"])))
    if problems:
        raise PetsegError("; ".join(problems))


def _print_table(report: dict) -> None:
    table = Table(title=f"autoPET metrics ({report['rule']}, lesions matched by {report['matching']})")
    for column in ("case", "Dice", "FPV ml", "FNV ml", "GT lesions", "found", "FP lesions"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for case in report["cases"]:
        table.add_row(case["case"], _fmt(case["dice"]), _fmt(case["fpv_ml"], 2), _fmt(case["fnv_ml"], 2),
                      str(case["gt_lesions"]), str(case["tp"]), str(case["fp"]))
    if report["cases"]:
        mean, found = report["mean"], report["detection"]
        table.add_section()
        table.add_row(f"mean of {report['n_cases']} ({report['n_negative']} negative)", _fmt(mean["dice"]),
                      _fmt(mean["fpv_ml"], 2), _fmt(mean["fnv_ml"], 2), str(found["gt_lesions"]), str(found["tp"]),
                      str(found["fp"]))
    results.print(table)
    if report["cases"]:
        found = report["detection"]
        results.print(f"lesion sensitivity {_fmt(found['sensitivity'])}, precision {_fmt(found['precision'])}, "
                      f"F1 {_fmt(found['f1'])}, false positives per study {_fmt(found['fp_per_study'], 2)}, "
                      f"Dice of detected lesions {_fmt(found['lesion_dice'])}")
