"""The report's acquisition block: the scan and how its values became SUV, from lesions.json's `study`."""

from __future__ import annotations

from typing import Any

from petseg.report.page import definitions, text

OVERRIDE_OPTIONS = {"weight_kg": "--weight", "dose_bq": "--dose", "injection_time": "--injection-time",
                    "half_life_s": "--half-life"}
DECAY_RULES = {
    "START": "decay-corrected to the scan start: the dose decayed over the uptake time (QIBA)",
    "ADMIN": "decay-corrected to the injection: the dose taken as injected",
}


def acquisition_block(study: dict[str, Any]) -> str:
    """The block's HTML: facts and SUV provenance for DICOM input, a plain statement for image files."""
    conversion = study.get("conversion")
    if study.get("values", "SUV") != "SUV":
        return (f'<p class="warning">Values are NOT SUV: {text(study.get("suv_source", "input file"))}. The image '
                "carried no usable SUV tags and was read with <code>--units none</code>: activity relative to its "
                "own background (median 1). For SUV give <code>--units BQML</code> with <code>--weight</code>, "
                "<code>--dose</code> and <code>--injection-time</code>, or <code>--suv-factor F</code>.</p>"
                + (definitions(_facts(study.get("acquisition", {}))) if conversion else ""))
    if conversion is None:
        return ('<p>SUV taken as given: the PET image file\'s values were used as SUV '
                f'({text(study.get("suv_source", "input file"))}). Image files carry no acquisition facts '
                "(scanner, dose, uptake time); convert from DICOM (<code>petseg convert</code>, or <code>--pet "
                "DICOM_DIR</code>) to have them checked and shown here.</p>")
    return definitions({**_facts(study.get("acquisition", {})), **_suv(conversion)})


def _facts(acquisition: dict[str, str]) -> dict[str, str | None]:
    return {"scanner": acquisition.get("scanner"), "scan date": acquisition.get("scan_date"),
            "radiopharmaceutical": acquisition.get("radiopharmaceutical")}


def _suv(conversion: dict[str, Any]) -> dict[str, str | None]:
    """Weight, dose, timing and the SUV rule, as used by the conversion."""
    tags = conversion.get("tags_used", {})
    weight, dose = tags.get("PatientWeight_kg"), tags.get("RadionuclideTotalDose_Bq")
    half_life, decay = tags.get("RadionuclideHalfLife_s"), tags.get("DecayCorrection")
    sul = conversion.get("sul_factor")
    return {
        "scan time": _when(tags.get("scan_time"), tags.get("scan_time_from")),
        "injection time": _when(tags.get("injection_time"), tags.get("injection_time_from")),
        "uptake time": f"{tags['uptake_min']:.1f} min" if "uptake_min" in tags else None,
        "patient weight": f"{weight:g} kg" if weight else None,
        "injected dose": f"{dose / 1e6:.1f} MBq" if dose else None,
        "half-life": f"{half_life:g} s" if half_life else None,
        "SUV type": "body weight (SUVbw)" + (f"; lean body mass SUL factor {sul:.6g} also recorded" if sul else ""),
        "decay rule": DECAY_RULES.get(decay, decay) if decay else None,
        "stored units": f"{conversion['units']} x {conversion['suv_factor']:.6g} = SUV"
        + (" (--suv-factor)" if tags.get("factor_from") else ""),
        "overridden on the command line": _overrides(tags.get("overrides", {})),
    }


def _when(time: str | None, source: str | None) -> str | None:
    if not time:
        return None
    return f"{time.replace('T', ' ')}" + (f" (from {source})" if source else "")


def _overrides(overrides: dict[str, str]) -> str:
    if not overrides:
        return "none"
    return ", ".join(f"{OVERRIDE_OPTIONS.get(key, key)} {value}" for key, value in overrides.items())
