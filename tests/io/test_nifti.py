"""NIfTI read through completely: truncated files refused, NaN kept as in every other format (issue 14)."""

from __future__ import annotations

import gzip
import warnings

import nibabel as nib
import numpy as np
import pytest

from petseg.data.study import load_study
from petseg.errors import PetsegError, PetsegWarning
from petseg.io.images import Volume, read_volume, write_volume


def noisy_volume(shape=(12, 20, 24)) -> Volume:
    array = np.random.default_rng(4).random(shape).astype(np.float32) * 4
    return Volume(array, (2.0, 2.0, 3.0), (-10.0, 5.0, 30.0))


def cut(path, fraction=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_truncated_nifti_is_refused(tmp_path, suffix):
    path = write_volume(noisy_volume(), tmp_path / f"pet{suffix}")
    cut(path)
    with pytest.raises(PetsegError, match=r"pet\.nii(\.gz)? is damaged: .*truncated.*copy or export it again"):
        read_volume(path)


def test_corrupt_gzip_member_is_refused(tmp_path):
    path = write_volume(noisy_volume(), tmp_path / "pet.nii.gz")
    data = bytearray(path.read_bytes())
    data[-6] ^= 0xFF  # the stored CRC-32 no longer matches the data
    path.write_bytes(bytes(data))
    with pytest.raises(PetsegError, match=r"is damaged: its compressed data are corrupt"):
        read_volume(path)


def test_complete_files_still_read_including_multi_member_gzip(tmp_path):
    volume = noisy_volume()
    plain = write_volume(volume, tmp_path / "pet.nii", compress=False)
    raw = plain.read_bytes()
    two_members = tmp_path / "two.nii.gz"
    two_members.write_bytes(gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]))
    np.testing.assert_array_equal(read_volume(two_members).array, volume.array)


def test_nan_in_a_nifti_pet_warns_like_mha(tmp_path):
    array = noisy_volume().array.copy()
    array[3, 4, 5:9] = np.nan
    array[6, 6, 6] = np.inf
    volume = noisy_volume().with_array(array)
    counts = {}
    for suffix in (".nii.gz", ".mha"):
        path = write_volume(volume, tmp_path / f"pet{suffix}")
        assert np.isnan(read_volume(path).array).sum() == 4  # ITK's NIfTI reader alone would give 0 here
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            study = load_study(path)
        counts[suffix] = [str(w.message) for w in caught if issubclass(w.category, PetsegWarning)]
        assert np.isfinite(study.suv.array).all()
    assert counts[".nii.gz"] == counts[".mha"] == ["PET: 5 NaN/Inf voxel(s) replaced by 0"]


def test_nan_in_a_nibabel_written_pet(tmp_path):
    data = noisy_volume().array.transpose(2, 1, 0).copy()
    data[1, 2, 3] = np.nan
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0])), tmp_path / "pet.nii.gz")
    with pytest.warns(PetsegWarning, match=r"PET: 1 NaN/Inf voxel"):
        load_study(tmp_path / "pet.nii.gz")
