"""The self-contained HTML report: one file, picture embedded, readable in any browser offline."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

from petseg import __version__
from petseg.io.atomic import write_text_atomic
from petseg.results import SegmentResult

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1f3a5f;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;opacity:.85;font-size:13px}
.ruo{background:#fff4ce;border-bottom:1px solid #e6d28a;padding:8px 32px;font-size:13px;color:#5c4b00}
main{padding:20px 32px;max-width:1200px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:16px 20px;margin-bottom:18px}
h2{font-size:16px;margin:0 0 12px;color:#1f3a5f}
.cards{display:flex;gap:14px;flex-wrap:wrap}
.card{flex:1;min-width:150px;background:#eef3f9;border-radius:6px;padding:10px 14px}
.card b{display:block;font-size:24px;color:#1f3a5f} .card span{font-size:12px;color:#556}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #e3e6ea;text-align:right}
th{background:#f0f2f5;font-weight:600} td:first-child,th:first-child{text-align:left}
.mip{text-align:center} .mip img{max-width:100%;height:auto;border:1px solid #ddd}
dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px;font-size:13px;margin:0}
dt{color:#556} dd{margin:0;word-break:break-all}
pre{background:#f6f8fa;padding:10px;border-radius:6px;font-size:12px;overflow:auto}
.muted{color:#778;font-size:12px}
"""


def _number(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else html.escape(str(value))


def _table(columns: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _method_line(method: dict[str, Any]) -> str:
    """One line saying how the lesions were found (SUV method or trained models)."""
    if method["name"] == "model":
        flips = len(method.get("flips", [[]]))
        return (f"trained models ({', '.join(method['recipes'])}; {len(method['models'])} in the ensemble, "
                f"{flips} pass(es) with flips), threshold {method['threshold']:.3f}")
    mode = method["parameters"]["threshold"]["mode"]
    return f"{method['name']}: SUV threshold {method['threshold_suv']:.2f} ({mode})"


def _definitions(items: dict[str, Any]) -> str:
    return "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{_number(v) if not isinstance(v, str) else html.escape(v)}"
                            "</dd>" for k, v in items.items() if v is not None) + "</dl>"


def _cards(totals: dict[str, Any]) -> str:
    return "".join(f'<div class="card"><b>{value}</b><span>{label}</span></div>' for value, label in (
        (totals["lesion_count"], "lesions"), (_number(totals["tmtv_ml"]), "total metabolic tumour volume (ml)"),
        (_number(totals["tlg"], 1), "total lesion glycolysis (ml x SUV)"),
        (_number(totals["suvmax"]), "highest SUVmax")))


def _lesion_table(lesions: list[dict[str, Any]]) -> str:
    return _table(["#", "volume (ml)", "SUVmax", "SUVmean", "SUVpeak", "TLG", "centroid x, y, z (mm, LPS)"],
                  [[str(lesion["id"]), _number(lesion["volume_ml"]), _number(lesion["suvmax"]),
                    _number(lesion["suvmean"]), _number(lesion["suvpeak"]), _number(lesion["tlg"], 1),
                    ", ".join(f"{v:.1f}" for v in lesion["centroid_mm"])] for lesion in lesions],
                  "No lesion found.")


def _suppressed_table(method: dict[str, Any]) -> str:
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in method.get("suppressed", []):
        groups.setdefault(item["reason"], []).append(item)
    return _table(["recognised as", "regions", "total volume (ml)", "highest SUVmax"],
                  [[html.escape(reason), str(len(items)), _number(sum(i["volume_ml"] for i in items)),
                    _number(max(i["suvmax"] for i in items))]
                   for reason, items in sorted(groups.items(), key=lambda g: -sum(i["volume_ml"] for i in g[1]))],
                  "Nothing was suppressed.")


def _metrics(metrics: dict[str, Any] | None) -> str:
    if not metrics:
        return ""
    return ("<section><h2>Against the ground truth (autoPET metrics)</h2>" + _definitions({
        "Dice": metrics["dice"], "false-positive volume (ml)": metrics["fpv_ml"],
        "false-negative volume (ml)": metrics["fnv_ml"],
        "lesions found": f"{metrics['tp']} of {metrics['gt_lesions']}", "false-positive lesions": str(metrics["fp"])})
        + "</section>")


def _provenance(data: dict[str, Any]) -> str:
    study, method = data["study"], data["method"]
    liver = method.get("liver_reference") or {}
    return _definitions({
        "PET": str(study.get("pet_path", "in memory")), "CT": str(study.get("ct_path") or "none (PET-only)"),
        "ground truth": study.get("label_path"), "SUV source": str(study.get("suv_source", "input file")),
        "tracer": str(study["tracer"]).upper(),
        "grid (x, y, z)": " x ".join(str(n) for n in study["shape_zyx"][::-1]) + " voxels of "
        + " x ".join(f"{s:.3g}" for s in study["spacing_mm"]) + " mm",
        "method": _method_line(method),
        "liver reference": f"SUV {liver['mean']:.2f} +- {liver['sd']:.2f}" if liver
        else "not used" if method["name"] == "model" else "not found",
        "petseg": __version__, "created": data["created"]})


def render_report(result: SegmentResult, mip_png: bytes, title: str | None = None) -> str:
    """The report as an HTML string."""
    data = result.lesions_json()
    study, method = data["study"], data["method"]
    name = html.escape(str(title or study.get("case") or Path(str(study.get("pet_path", "study"))).name))
    timings = _definitions({step: f"{seconds:.2f} s" for step, seconds in data["timings_s"].items()})
    parameters = html.escape(json.dumps(method.get("parameters", method), indent=2))
    picture = base64.b64encode(mip_png).decode("ascii")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>petseg report: {name}</title><style>{STYLE}</style></head>
<body>
<header><h1>PET/CT lesion report: {name}</h1>
<p>petseg {__version__} &middot; {html.escape(data["created"])}</p></header>
<div class="ruo"><b>Research use only.</b> Automated segmentation, not reviewed by a physician; not for diagnosis
or treatment decisions.</div>
<main>
<section><h2>Summary</h2><div class="cards">{_cards(data["totals"])}</div></section>
{_metrics(result.metrics)}
<section class="mip"><h2>Maximum-intensity projections</h2>
<img alt="coronal and sagittal PET MIPs with the lesions numbered" src="data:image/png;base64,{picture}"></section>
<section><h2>Lesions (by SUVmax)</h2>{_lesion_table(data["lesions"])}</section>
<section><h2>Physiological uptake recognised and left out</h2>{_suppressed_table(method)}</section>
<section><h2>Study and provenance</h2>{_provenance(data)}
<details><summary class="muted">method parameters</summary><pre>{parameters}</pre></details></section>
<section><h2>Processing times</h2>{timings}</section>
</main></body></html>
"""


def write_report(result: SegmentResult, path: Path, mip_path: Path, title: str | None = None) -> Path:
    """Write the report atomically, embedding the MIP picture at `mip_path`."""
    write_text_atomic(path, render_report(result, Path(mip_path).read_bytes(), title))
    return path
