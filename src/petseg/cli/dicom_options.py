"""Command-line options shared by the commands that read DICOM PET (convert, segment)."""

from __future__ import annotations

import typer

from petseg.io.suv import SuvOverrides, parse_injection_time

WEIGHT = typer.Option(None, "--weight", help="Patient weight in kg (when PatientWeight is missing or wrong).")
DOSE = typer.Option(None, "--dose", help="Injected dose in MBq (when RadionuclideTotalDose is missing or wrong).")
INJECTION_TIME = typer.Option(None, "--injection-time", help="Injection time, 'YYYY-MM-DD HH:MM:SS' or 'HH:MM:SS'.")
HALF_LIFE = typer.Option(None, "--half-life", help="Radionuclide half-life in s (F-18: 6586.2).")
PET_SERIES = typer.Option(None, "--pet-series", help="SeriesInstanceUID of the PET when a folder holds several.")
CT_SERIES = typer.Option(None, "--ct-series", help="SeriesInstanceUID of the CT when a folder holds several.")
ROI = typer.Option(None, "--roi", help="ROI (RTSTRUCT) or segment (SEG) name of the mask.")


def suv_overrides(weight: float | None, dose: float | None, injection_time: str | None,
                  half_life: float | None) -> SuvOverrides:
    """The SUV overrides given on the command line."""
    return SuvOverrides(weight_kg=weight, dose_bq=dose * 1e6 if dose else None,
                        injection_time=parse_injection_time(injection_time) if injection_time else None,
                        half_life_s=half_life)
