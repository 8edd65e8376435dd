from __future__ import annotations

import datetime as dt
import json

import pytest

from petseg.errors import PetsegError
from petseg.io.dicom import discover, suv_header
from petseg.io.suv import (
    SuvOverrides,
    lean_body_mass_kg,
    parse_date,
    parse_datetime,
    parse_injection_time,
    parse_time,
    suv_conversion,
)

REFERENCE = {  # cornerstonejs/calculate-suv test values (see the data folder's README)
    "PHILIPS_BQML": 0.0007463747013889488, "PHILIPS_CNTS_AND_BQML_SUV": 0.000551,
    "PHILIPS_CNTS_AND_SUV": 0.000728, "SIEMENS": 0.00042748316187197236,
    "GE_MEDICAL_AND_BQML": 0.0005367387681819742, "BQML_AC_DT_lessThan_S_DT_SIEMENS": 0.0004069156854009332,
    "CPS_AND_BQML_AC_DT_-_S_DT": 0.00026503312764157046, "RADIOPHARM_DATETIME_UNDEFINED": 0.0003721089202818729,
}


@pytest.mark.parametrize("case", sorted(REFERENCE))
def test_vendor_headers_give_the_reference_factor(real_data, case):
    instances = json.loads((real_data / "calculate_suv_metadata" / "metadata" / f"{case}-instances.json").read_text())
    result = suv_conversion(instances)
    assert result.factor == pytest.approx(REFERENCE[case], rel=1e-6)


def test_series_time_after_acquisition_uses_the_earliest_acquisition(real_data):
    path = real_data / "calculate_suv_metadata" / "metadata" / "CPS_AND_BQML_AC_DT_-_S_DT-instances.json"
    result = suv_conversion(json.loads(path.read_text()))
    assert "earliest Acquisition" in result.tags_used["scan_time_from"]


SINGLE = "pet_dicom_single_slices"


@pytest.mark.parametrize(("name", "expected"), [
    ("orthanc_tests/2020-11-16-SalimKanounAnonymization.dcm", 4.464e-4),
    ("suyashkumar_dicom/1.dcm", 5.942e-4),
])
def test_single_slices_with_a_factor(real_data, name, expected):
    (series,) = discover(real_data / SINGLE / name)
    assert suv_conversion([suv_header(h) for h in series.headers]).factor == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize(("name", "message"), [
    ("orthanc_tests/2021-02-19-MalaterreCP246.dcm", "PatientWeight is 0; give the weight with --weight"),
    ("orthanc_tests/Comunix_Pet_IM-0001-0001.dcm", "PatientWeight is 0"),
    ("orthanc_tests/Comunix_Pet_IM-0001-0002.dcm", "PatientWeight is 0"),
    ("orthanc_tests/Issue94.dcm", "PatientWeight is missing"),
])
def test_single_slices_that_cannot_be_converted(real_data, name, message):
    (series,) = discover(real_data / SINGLE / name)
    with pytest.raises(PetsegError, match=message):
        suv_conversion([suv_header(h) for h in series.headers])


def test_overrides_fix_missing_tags(real_data):
    (series,) = discover(real_data / SINGLE / "orthanc_tests/2021-02-19-MalaterreCP246.dcm")
    headers = [suv_header(h) for h in series.headers]
    result = suv_conversion(headers, SuvOverrides(weight_kg=70.0))
    assert result.tags_used["PatientWeight_kg"] == 70.0 and result.factor > 0
    later = suv_conversion(headers, SuvOverrides(weight_kg=70.0, injection_time=dt.time(9, 8, 53)))
    assert later.tags_used["injection_time_from"] == "--injection-time"
    assert later.factor > result.factor  # an earlier injection means more decay, a larger factor
    assert any("uptake" in w for w in later.warnings) or later.tags_used["uptake_min"] > 10


def test_file_without_part10_header_and_odd_values_warn(real_data):
    (series,) = discover(real_data / SINGLE / "orthanc_tests/PrivateMDNTags.dcm")
    result = suv_conversion([suv_header(h) for h in series.headers])
    assert result.factor > 0
    assert any("weight 9.293 kg" in w for w in result.warnings)


def test_zero_uptake_is_flagged(real_data):
    (series,) = discover(real_data / SINGLE / "suyashkumar_dicom/2.dcm")
    result = suv_conversion([suv_header(h) for h in series.headers])
    assert any("uptake time 0.0 min" in w for w in result.warnings)


def test_rules_without_real_data():
    header = {"Units": "BQML", "CorrectedImage": ["ATTN", "DECY"], "DecayCorrection": "START", "PatientWeight": 80,
              "RadionuclideTotalDose": 370e6, "RadionuclideHalfLife": 6586.2, "SeriesDate": "20240101",
              "SeriesTime": "110000", "AcquisitionDate": "20240101", "AcquisitionTime": "110000",
              "RadiopharmaceuticalStartTime": "100000", "PatientSize": 1.8, "PatientSex": "M"}
    result = suv_conversion([header])
    assert result.factor == pytest.approx(80e3 / (370e6 * 2 ** (-3600 / 6586.2)))
    assert result.sul_factor == pytest.approx(result.factor * lean_body_mass_kg(80, 1.8, "M") / 80)
    assert suv_conversion([{**header, "DecayCorrection": "ADMIN"}]).factor == pytest.approx(80e3 / 370e6)
    assert suv_conversion([{**header, "Units": "GML"}]).factor == 1.0
    with pytest.raises(PetsegError, match=r"without attenuation and decay correction"):
        suv_conversion([{**header, "CorrectedImage": ["DECY"]}])
    with pytest.raises(PetsegError, match=r"Units CNTS without Philips"):
        suv_conversion([{**header, "Units": "CNTS"}])
    counts = suv_conversion([{**header, "Units": "CNTS", "PhilipsPETPrivateGroup": {
        "ActivityConcentrationScaleFactor": 2.5}}])
    assert counts.factor == pytest.approx(2.5 * result.factor)
    with pytest.raises(PetsegError, match=r"injection .* is after the scan"):
        suv_conversion([{**header, "RadiopharmaceuticalStartTime": "120000"}])
    ge = suv_conversion([{**header, "SeriesTime": "130000", "GEPrivatePostInjectionDateTime": "20240101113000"}])
    assert ge.tags_used["scan_time_from"].startswith("GE private")
    with pytest.raises(PetsegError, match=r"RadiopharmaceuticalStartTime is missing.*--injection-time"):
        suv_conversion([{key: v for key, v in header.items() if key != "RadiopharmaceuticalStartTime"}])


def test_lean_body_mass_and_parsers():
    assert lean_body_mass_kg(70, 1.75, "M") == pytest.approx(9270 * 70 / (6680 + 216 * 70 / 1.75**2))
    assert lean_body_mass_kg(70, 1.75, "F") < lean_body_mass_kg(70, 1.75, "M")
    assert parse_date("20201217") == dt.date(2020, 12, 17)
    assert parse_time("104830.35137") == dt.time(10, 48, 30, 351370)
    assert parse_time("1048") == dt.time(10, 48)
    assert parse_time("10:48:30") == dt.time(10, 48, 30)
    assert parse_datetime("20201217083045.000000 ") == dt.datetime(2020, 12, 17, 8, 30, 45)
    assert parse_datetime("20201217083045+0100") == dt.datetime(2020, 12, 17, 8, 30, 45)
    assert parse_injection_time("2024-01-02 10:11") == dt.datetime(2024, 1, 2, 10, 11)
    assert parse_injection_time("10:11:12") == dt.time(10, 11, 12)
    with pytest.raises(PetsegError):
        parse_injection_time("yesterday")


def test_a_header_without_units_names_the_way_out_and_the_overrides_take_it():
    header = {"CorrectedImage": ["ATTN", "DECY"]}  # a phantom: no Units, weight, dose or times
    with pytest.raises(PetsegError, match=r"Units missing .*--units BQML.*--suv-factor F.*--units none"):
        suv_conversion([header])
    with pytest.raises(PetsegError, match=r"SeriesTime and AcquisitionTime are missing.*--suv-factor"):
        suv_conversion([header], SuvOverrides(units="BQML", weight_kg=9.7, dose_bq=50e6, half_life_s=6586.2,
                                              injection_time=dt.time(9, 0)))
    given = suv_conversion([header], SuvOverrides(suv_factor=2.5e-4))
    assert given.factor == 2.5e-4 and not given.relative and given.tags_used["factor_from"] == "--suv-factor"
    relative = suv_conversion([header], SuvOverrides(units="NONE"))
    assert relative.relative and relative.as_dict()["values"].endswith("(not SUV)")
    bqml = {**header, "Units": "", "PatientWeight": 80, "RadionuclideTotalDose": 370e6, "RadionuclideHalfLife": 6586.2,
            "SeriesDate": "20240101", "SeriesTime": "110000", "RadiopharmaceuticalStartTime": "100000"}
    assert suv_conversion([bqml], SuvOverrides(units="BQML")).factor == pytest.approx(
        80e3 / (370e6 * 2 ** (-3600 / 6586.2)))
