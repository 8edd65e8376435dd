"""PET to SUV: the body-weight SUV factor from DICOM header values, as QIBA defines it.

A pure function of a header mapping (DICOM keywords -> values, one mapping per instance), so every
vendor rule can be tested without pixels:

    SUVbw = activity concentration (Bq/ml) x body weight (g) / decayed injected dose (Bq)
    decayed dose = total dose x 2^(-(scan time - injection time) / half-life)   (DecayCorrection START)

- Units BQML: the stored (rescaled) values are Bq/ml.
- Units CNTS (Philips): the private SUV scale factor (7053,1000) gives SUV directly; otherwise the
  activity-concentration scale factor (7053,1009) turns counts into Bq/ml.
- Units GML: already SUVbw.
- Scan time: SeriesDate/Time, unless that is later than the earliest AcquisitionDate/Time (series
  re-saved after the scan, e.g. by anonymisation); then GE's private post-injection time (0009,100d)
  where present, else the earliest acquisition.
- Injection time: RadiopharmaceuticalStartDateTime, else RadiopharmaceuticalStartTime on the series date.
- SUL (lean body mass, Janmahasatian 2005) where sex and height are known.
Missing or unusable tags raise one clear error naming the tag and the override that fixes it. Where the header
says nothing usable (a phantom, a research export), the user gives the units (`--units BQML` with the
patient's tags), the factor itself (`--suv-factor F`), or `--units none`: the values are then read relative to
the image's own background, never called SUV (`relative`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from petseg.errors import PetsegError

UPTAKE_WARN_S = (10 * 60, 5 * 3600)
UNITS = ("BQML", "CNTS", "GML", "NONE")
WAY_OUT = ("if the values are Bq/ml give --units BQML (with --weight, --dose and --injection-time where those tags "
           "are missing), give the factor to SUV with --suv-factor F, or read the values relative to the image's own "
           "background with --units none (a phantom: the result is then not in SUV)")
WEIGHT_WARN_KG = (20.0, 300.0)
DOSE_WARN_BQ = (20e6, 1.5e9)


@dataclass(frozen=True)
class SuvOverrides:
    """Values given by the user for studies whose tags are missing or wrong."""

    weight_kg: float | None = None
    dose_bq: float | None = None
    injection_time: dt.datetime | dt.time | None = None  # a bare time is taken on the scan's date
    half_life_s: float | None = None
    units: str | None = None  # BQML, CNTS, GML, or NONE (values relative to the image's background, not SUV)
    suv_factor: float | None = None  # stored value x this = SUV, whatever the header says


@dataclass
class SuvConversion:
    """The factor that turns stored (rescaled) pixel values into SUVbw, and how it was obtained."""

    factor: float
    sul_factor: float | None
    units: str
    tags_used: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    relative: bool = False  # values relative to the image's background (`--units none`): NOT SUV

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready record (conversion.json)."""
        return {"suv_factor": self.factor, "sul_factor": self.sul_factor, "units": self.units,
                "tags_used": self.tags_used, "warnings": self.warnings,
                "values": "relative to the image's background (not SUV)" if self.relative else "SUV"}


def parse_date(value: str) -> dt.date:
    """DICOM DA ('YYYYMMDD', also 'YYYY.MM.DD' from old ACR-NEMA files)."""
    digits = re.sub(r"\D", "", str(value))
    return dt.date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))


def parse_time(value: str) -> dt.time:
    """DICOM TM ('HHMMSS.FFFFFF', truncated forms, or 'HH:MM:SS' from old files)."""
    text = str(value).strip().replace(":", "")
    whole, _, fraction = text.partition(".")
    hours, minutes, seconds = int(whole[0:2]), int(whole[2:4] or 0), int(whole[4:6] or 0)
    micro = int((fraction + "000000")[:6]) if fraction else 0
    return dt.time(hours, minutes, seconds, micro)


def parse_datetime(value: str) -> dt.datetime:
    """DICOM DT ('YYYYMMDDHHMMSS.FFFFFF&ZZXX'); a time-zone offset is dropped (all times are local)."""
    text = re.split(r"[+-]", str(value).strip())[0]
    return dt.datetime.combine(parse_date(text[:8]), parse_time(text[8:] or "000000"))


def _combine(date: str | None, time: str | None) -> dt.datetime | None:
    if not date or not time:
        return None
    return dt.datetime.combine(parse_date(date), parse_time(time))


def _required(header: Mapping[str, Any], key: str, fix: str) -> Any:
    value = header.get(key)
    if value in (None, "", [], 0, 0.0):
        raise PetsegError(f"cannot convert the PET to SUV: {key} is {'0' if value == 0 else 'missing'}; {fix}")
    return value


def scan_time(instances: Sequence[Mapping[str, Any]]) -> tuple[dt.datetime, str]:
    """The scan reference time of a series and which tag it came from."""
    first = instances[0]
    acquisitions = [t for t in (_combine(i.get("AcquisitionDate"), i.get("AcquisitionTime")) for i in instances) if t]
    series = _combine(first.get("SeriesDate"), first.get("SeriesTime"))
    if series is None and not acquisitions:
        raise PetsegError("cannot convert the PET to SUV: SeriesTime and AcquisitionTime are missing, so the decay "
                          "since the injection is unknown; give the factor to SUV with --suv-factor F, or read the "
                          "values relative to the image's own background with --units none (not SUV)")
    earliest = min(acquisitions) if acquisitions else None
    if series is not None and (earliest is None or series <= earliest):
        return series, "SeriesDate/SeriesTime"
    if first.get("GEPrivatePostInjectionDateTime"):
        return parse_datetime(first["GEPrivatePostInjectionDateTime"]), "GE private scan time (0009,100d)"
    return earliest, "earliest AcquisitionDate/AcquisitionTime (SeriesTime is later)"  # type: ignore[return-value]


def injection_time(header: Mapping[str, Any]) -> tuple[dt.datetime, str]:
    """The injection time and which tag it came from."""
    if header.get("RadiopharmaceuticalStartDateTime"):
        return parse_datetime(header["RadiopharmaceuticalStartDateTime"]), "RadiopharmaceuticalStartDateTime"
    if header.get("RadiopharmaceuticalStartTime") and header.get("SeriesDate"):
        start = _combine(header["SeriesDate"], header["RadiopharmaceuticalStartTime"])
        return start, "RadiopharmaceuticalStartTime on SeriesDate"  # type: ignore[return-value]
    raise PetsegError("cannot convert the PET to SUV: RadiopharmaceuticalStartTime is missing; give the injection "
                      "time with --injection-time 'YYYY-MM-DD HH:MM:SS'")


def lean_body_mass_kg(weight_kg: float, height_m: float, sex: str) -> float:
    """Lean body mass by Janmahasatian et al. (2005)."""
    bmi = weight_kg / height_m**2
    if sex.upper().startswith("M"):
        return 9270.0 * weight_kg / (6680.0 + 216.0 * bmi)
    return 9270.0 * weight_kg / (8780.0 + 244.0 * bmi)


def suv_conversion(instances: Sequence[Mapping[str, Any]], overrides: SuvOverrides | None = None) -> SuvConversion:
    """The SUVbw factor of a PET series from its instances' header values (see the module docstring)."""
    if not instances:
        raise PetsegError("cannot convert the PET to SUV: no instance")
    overrides = overrides or SuvOverrides()
    header = instances[0]
    stored = str(header.get("Units", "") or "").strip().upper()
    used: dict[str, Any] = {"Units": stored}
    if overrides.suv_factor:
        used["factor_from"] = "--suv-factor"
        return SuvConversion(float(overrides.suv_factor), None, stored or "given", used)
    units = (overrides.units or stored).strip().upper()
    if overrides.units:
        used["units_from"] = "--units"
    if units == "NONE":
        return SuvConversion(1.0, None, units, used, relative=True)
    corrected = [str(c).strip().upper() for c in (header.get("CorrectedImage") or [])]
    if corrected and not {"ATTN", "DECY"} <= set(corrected):
        raise PetsegError(f"cannot convert the PET to SUV: CorrectedImage is {corrected}, without attenuation and "
                          "decay correction (ATTN, DECY) SUV is not defined")
    if units == "GML":
        return SuvConversion(1.0, None, units, used, [])
    if units not in ("BQML", "CNTS"):
        raise PetsegError(f"cannot convert the PET to SUV: Units {units or 'missing'} (expected BQML, CNTS or GML); "
                          f"{WAY_OUT}")
    philips = header.get("PhilipsPETPrivateGroup") or {}
    if units == "CNTS" and _positive(philips.get("SUVScaleFactor")):
        used["Philips SUVScaleFactor (7053,1000)"] = float(philips["SUVScaleFactor"])
        return SuvConversion(float(philips["SUVScaleFactor"]), None, units, used, [])
    counts_scale = _counts_scale(units, philips, used)
    weight = overrides.weight_kg or float(_required(header, "PatientWeight", "give the weight with --weight KG"))
    dose = overrides.dose_bq or float(_required(header, "RadionuclideTotalDose", "give the dose with --dose MBQ"))
    half_life = overrides.half_life_s or float(_required(header, "RadionuclideHalfLife",
                                                         "give it with --half-life S (F-18: 6586.2)"))
    uptake = _uptake_s(instances, overrides, used)
    decayed_dose = _decayed_dose(dose, uptake, half_life, str(header.get("DecayCorrection", "START")).strip().upper())
    used.update({"PatientWeight_kg": weight, "RadionuclideTotalDose_Bq": dose, "RadionuclideHalfLife_s": half_life,
                 "DecayCorrection": str(header.get("DecayCorrection", "START")).strip().upper(),
                 "overrides": {k: str(v) for k, v in vars(overrides).items() if v is not None}})
    factor = counts_scale * weight * 1000.0 / decayed_dose
    sul = None
    height, sex = header.get("PatientSize"), str(header.get("PatientSex") or "").strip()
    if _positive(height) and sex[:1].upper() in ("M", "F"):
        sul = counts_scale * lean_body_mass_kg(weight, float(height), sex) * 1000.0 / decayed_dose
        used["PatientSize_m"], used["PatientSex"] = float(height), sex
    return SuvConversion(factor, sul, units, used, _plausibility(uptake, weight, dose))


def _counts_scale(units: str, philips: Mapping[str, Any], used: dict[str, Any]) -> float:
    """Bq/ml per stored unit: 1 for BQML, Philips' activity-concentration scale factor for CNTS."""
    if units != "CNTS":
        return 1.0
    if not _positive(philips.get("ActivityConcentrationScaleFactor")):
        raise PetsegError("cannot convert the PET to SUV: Units CNTS without Philips SUVScaleFactor (7053,1000) "
                          "or ActivityConcentrationScaleFactor (7053,1009)")
    used["Philips ActivityConcentrationScaleFactor (7053,1009)"] = float(philips["ActivityConcentrationScaleFactor"])
    return float(philips["ActivityConcentrationScaleFactor"])


def _uptake_s(instances: Sequence[Mapping[str, Any]], overrides: SuvOverrides, used: dict[str, Any]) -> float:
    """Seconds from injection to the scan time (both recorded in `used`)."""
    scanned, scan_source = scan_time(instances)
    if isinstance(overrides.injection_time, dt.datetime):
        injected, injection_source = overrides.injection_time, "--injection-time"
    elif isinstance(overrides.injection_time, dt.time):
        injected, injection_source = dt.datetime.combine(scanned.date(), overrides.injection_time), "--injection-time"
    else:
        injected, injection_source = injection_time(instances[0])
    uptake = (scanned - injected).total_seconds()
    if uptake < 0:
        raise PetsegError(f"cannot convert the PET to SUV: the injection ({injected}) is after the scan ({scanned}); "
                          "fix the time with --injection-time")
    used.update({"scan_time": scanned.isoformat(), "scan_time_from": scan_source,
                 "injection_time": injected.isoformat(), "injection_time_from": injection_source,
                 "uptake_min": round(uptake / 60.0, 2)})
    return uptake


def _decayed_dose(dose_bq: float, uptake_s: float, half_life_s: float, decay_correction: str) -> float:
    """The dose at the time the image is decay-corrected to (START: scan start; ADMIN: injection)."""
    if decay_correction == "START":
        return dose_bq * 2.0 ** (-uptake_s / half_life_s)
    if decay_correction == "ADMIN":
        return dose_bq  # already decay corrected to the administration time
    raise PetsegError(f"cannot convert the PET to SUV: DecayCorrection {decay_correction} is not supported "
                      "(START or ADMIN)")


def parse_injection_time(text: str) -> dt.datetime | dt.time:
    """'YYYY-MM-DD HH:MM[:SS]' or 'HH:MM[:SS]' (on the scan's date), as given on the command line."""
    text = text.strip().replace("T", " ")
    for layout in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return dt.datetime.strptime(text, layout)
        except ValueError:
            pass
    for layout in ("%H:%M:%S", "%H:%M"):
        try:
            return dt.datetime.strptime(text, layout).time()
        except ValueError:
            pass
    raise PetsegError(f"--injection-time takes 'YYYY-MM-DD HH:MM:SS' or 'HH:MM:SS', got {text!r}")


def _positive(value: Any) -> bool:
    try:
        return value is not None and float(value) > 0 and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _plausibility(uptake_s: float, weight_kg: float, dose_bq: float) -> list[str]:
    warnings = []
    if not UPTAKE_WARN_S[0] <= uptake_s <= UPTAKE_WARN_S[1]:
        warnings.append(f"implausible uptake time {uptake_s / 60:.1f} min (expected 10 min to 5 h): check the "
                        "injection and scan times (--injection-time)")
    if not WEIGHT_WARN_KG[0] <= weight_kg <= WEIGHT_WARN_KG[1]:
        warnings.append(f"implausible patient weight {weight_kg:g} kg: check PatientWeight (--weight)")
    if not DOSE_WARN_BQ[0] <= dose_bq <= DOSE_WARN_BQ[1]:
        warnings.append(f"implausible injected dose {dose_bq / 1e6:.1f} MBq: check RadionuclideTotalDose (--dose)")
    return warnings
