"""The self-contained HTML report of one study: one file, pictures embedded, readable in any browser offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from petseg.io.atomic import write_text_atomic
from petseg.report.acquisition import acquisition_block
from petseg.report.colours import lesion_colour
from petseg.report.page import definitions, number, page, picture, table, text
from petseg.results import SegmentResult, value_unit

TRUTH_CLASSES = {"found": "found", "false positive": "fp"}


def _method_line(method: dict[str, Any], unit: str) -> str:
    """One line saying how the lesions were found (SUV method, trained models or an nnU-Net model)."""
    if method["name"] == "nnunet":
        rule = "argmax" if method.get("threshold") is None else f"threshold {method['threshold']:.3f}"
        post = "nnU-Net's" if method.get("postprocessing") else "none"
        return (f"{method['description']} (nnU-Net's predictor; mirroring {method.get('mirroring') or 'none'}, "
                f"{rule}, post-processing {post})")
    if method["name"] == "model":
        flips = len(method.get("flips", [[]]))
        return (f"trained models ({', '.join(method['recipes'])}; {len(method['models'])} in the ensemble, "
                f"{flips} pass(es) with flips), threshold {method['threshold']:.3f}")
    mode = method["parameters"]["threshold"]["mode"]
    if unit == "SUV":
        return f"{method['name']}: SUV threshold {method['threshold_suv']:.2f} ({mode})"
    return f"{method['name']}: threshold {method['threshold_suv']:.2f} {unit}, NOT SUV ({mode})"


def _cards(totals: dict[str, Any], unit: str) -> str:
    return "".join(f'<div class="card"><b>{value}</b><span>{label}</span></div>' for value, label in (
        (totals["lesion_count"], "lesions"), (number(totals["tmtv_ml"]), "total metabolic tumour volume (ml)"),
        (number(totals["tlg"], 1), f"total lesion glycolysis (ml x {unit})"),
        (number(totals["suvmax"]), f"highest maximum ({unit})")))


def _not_suv(unit: str) -> str:
    """A banner for values that are not SUV (`--units none`)."""
    if unit == "SUV":
        return ""
    return ('<p class="warning"><b>Values are NOT SUV:</b> activity relative to the image\'s own background (its '
            "median is 1), read with <code>--units none</code>; every maximum, mean, peak and TLG here is in "
            "multiples of that background.</p>")


def _warnings(messages: list[str], important: list[str]) -> str:
    """The warnings in two groups: those that may change the lesions found or their values first, then notes."""
    if not messages:
        return ""
    groups = [("May change the result", [m for m in messages if m in important]),
              ("Notes", [m for m in messages if m not in important])]
    blocks = "".join(f"<h3>{title} ({len(items)})</h3><ul>" + "".join(f"<li>{text(m)}</li>" for m in items) + "</ul>"
                     for title, items in groups if items)
    return f'<section class="warnings" id="warnings"><h2>Warnings ({len(messages)})</h2>{blocks}</section>'


def _lesion_table(lesions: list[dict[str, Any]], with_truth: bool, unit: str) -> str:
    columns = ["#", "region", "volume (ml)", *_value_columns(unit), "TLG", "centroid x, y, z (mm, LPS)"]
    rows = []
    for lesion in lesions:
        swatch = f'<span class="swatch" style="background:{lesion_colour(lesion["id"])}"></span>'
        row = [swatch + str(lesion["id"]), text(lesion.get("region") or "n/a"), number(lesion["volume_ml"]),
               number(lesion["suvmax"]), number(lesion["suvmean"]), number(lesion["suvpeak"]),
               number(lesion["tlg"], 1), ", ".join(f"{v:.1f}" for v in lesion["centroid_mm"])]
        if with_truth:
            status = lesion.get("truth", "")
            row.append(f'<span class="{TRUTH_CLASSES.get(status, "")}">{text(status)}</span>')
        rows.append(row)
    return table(columns + (["vs ground truth"] if with_truth else []), rows, "No lesion found.", (1, 8))


def _value_columns(unit: str) -> list[str]:
    """Column names of the maximum, mean and peak: SUVmax ... for SUV, "max (x background)" ... otherwise."""
    if unit == "SUV":
        return ["SUVmax", "SUVmean", "SUVpeak"]
    return [f"{name} ({unit})" for name in ("max", "mean", "peak")]


def _missed_table(missed: list[dict[str, Any]] | None) -> str:
    if missed is None:
        return ""
    rows = [[f"T{item['id']}", text(item.get("region") or "n/a"), number(item["volume_ml"]), number(item["suvmax"]),
             ", ".join(f"{v:.1f}" for v in item["centroid_mm"]), '<span class="missed">missed</span>']
            for item in missed]
    return ("<h2>Ground-truth lesions missed</h2>"
            + table(["truth #", "region", "volume (ml)", "SUVmax", "centroid x, y, z (mm, LPS)", "status"], rows,
                    "Every ground-truth lesion was found.", (1, 5)))


def _suppressed_table(method: dict[str, Any]) -> str:
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in method.get("suppressed", []):
        groups.setdefault(item["reason"], []).append(item)
    return table(["recognised as", "regions", "total volume (ml)", "highest SUVmax"],
                 [[text(reason), str(len(items)), number(sum(i["volume_ml"] for i in items)),
                   number(max(i["suvmax"] for i in items))]
                  for reason, items in sorted(groups.items(), key=lambda g: -sum(i["volume_ml"] for i in g[1]))],
                 "Nothing was suppressed.")


def _metrics(metrics: dict[str, Any] | None) -> str:
    if not metrics:
        return ""
    return ("<section><h2>Against the ground truth (autoPET metrics)</h2>" + definitions({
        "Dice": metrics["dice"], "false-positive volume (ml)": metrics["fpv_ml"],
        "false-negative volume (ml)": metrics["fnv_ml"],
        "lesions found": f"{metrics['tp']} of {metrics['gt_lesions']}", "false-positive lesions": str(metrics["fp"])})
        + "</section>")


def _ct_line(study: dict[str, Any]) -> str:
    if not study["has_ct"]:
        return "none (PET-only)"
    covered = f"covers {study.get('ct_covered_fraction', 1.0):.0%} of the PET field of view"
    return f"{study.get('ct_path') or 'given in memory'} ({covered})"


def _provenance(data: dict[str, Any], unit: str) -> str:
    study, method = data["study"], data["method"]
    liver = method.get("liver_reference") or {}
    return definitions({
        "PET": str(study.get("pet_path", "in memory")), "CT": _ct_line(study),
        "ground truth": study.get("label_path"), "SUV source": str(study.get("suv_source", "input file")),
        "tracer": str(study["tracer"]).upper(),
        "grid (x, y, z)": " x ".join(str(n) for n in study["shape_zyx"][::-1]) + " voxels of "
        + " x ".join(f"{s:.3g}" for s in study["spacing_mm"]) + " mm",
        "values": str(study.get("values", "SUV")),
        "method": _method_line(method, unit),
        "liver reference": f"{unit} {liver['mean']:.2f} +- {liver['sd']:.2f}" if liver
        else "not used" if method["name"] in ("model", "nnunet") else "not found",
        "petseg": data["petseg_version"], "created": data["created"]})


def _pictures(mip_png: bytes, axial_png: bytes | None) -> str:
    mip = ('<section class="picture" id="mip"><h2>Maximum-intensity projections</h2>'
           + picture(mip_png, "coronal and sagittal PET MIPs with the lesions numbered") + "</section>")
    if axial_png is None:
        return mip
    return mip + ('<section class="picture" id="axial"><h2>Axial slices through the largest lesions</h2>'
                  + picture(axial_png, "axial PET slices with the largest lesions outlined") + "</section>")


def render_report(result: SegmentResult, mip_png: bytes, title: str | None = None,
                  axial_png: bytes | None = None) -> str:
    """The report as an HTML string."""
    data = result.lesions_json()
    study, method = data["study"], data["method"]
    unit = value_unit(study)
    name = str(title or study.get("case") or Path(str(study.get("pet_path", "study"))).name)
    timings = definitions({step: f"{seconds:.2f} s" for step, seconds in data["timings_s"].items()})
    parameters = text(json.dumps(method.get("parameters", method), indent=2))
    cards = _cards(data["totals"], unit)
    lesions = _lesion_table(data["lesions"], result.metrics is not None, unit)
    body = f"""<section><h2>Summary</h2>{_not_suv(unit)}<div class="cards">{cards}</div></section>
{_warnings(data["warnings"], data.get("important_warnings", []))}
<section id="acquisition"><h2>Acquisition and SUV</h2>{acquisition_block(study)}</section>
{_metrics(result.metrics)}
{_pictures(mip_png, axial_png)}
<section><h2>Lesions (by {_value_columns(unit)[0]})</h2>{lesions}
{_missed_table(data.get("missed_lesions"))}</section>
<section><h2>Physiological uptake recognised and left out</h2>{_suppressed_table(method)}</section>
<section><h2>Study and provenance</h2>{_provenance(data, unit)}
<details><summary class="muted">method parameters</summary><pre>{parameters}</pre></details></section>
<section><h2>Processing times</h2>{timings}</section>"""
    return page(f"petseg report: {name}", f"PET/CT lesion report: {name}", data["created"], body)


def write_report(result: SegmentResult, path: Path, mip_path: Path, title: str | None = None,
                 axial_path: Path | None = None) -> Path:
    """Write the report atomically, embedding the MIP picture at `mip_path` (and the axial panels)."""
    axial = Path(axial_path).read_bytes() if axial_path is not None else None
    write_text_atomic(path, render_report(result, Path(mip_path).read_bytes(), title, axial))
    return path
