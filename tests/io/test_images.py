from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from petseg.errors import PetsegError, PetsegWarning
from petseg.io.images import Volume, read_volume, write_volume


def oblique_volume(dtype=np.float32) -> Volume:
    rng = np.random.default_rng(0)
    array = (rng.random((7, 9, 11)) * 100).astype(dtype)
    direction = Rotation.from_euler("xyz", [17, -8, 31], degrees=True).as_matrix()
    return Volume(array, spacing=(0.8, 1.37, 3.27), origin=(-201.25, 13.5, -812.0), direction=tuple(direction.ravel()))


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".mha", ".nrrd"])
@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.uint8])
def test_round_trip_keeps_pixels_and_geometry(tmp_path, suffix, dtype):
    volume = oblique_volume(dtype)
    path = write_volume(volume, tmp_path / f"image{suffix}")
    back = read_volume(path)
    assert back.array.dtype == volume.array.dtype
    np.testing.assert_array_equal(back.array, volume.array)
    # NIfTI stores geometry as float32: exact to that precision; MHA/NRRD keep more digits.
    tolerance = 1e-4 if suffix.startswith(".nii") else 1e-9
    np.testing.assert_allclose(back.spacing, volume.spacing, atol=tolerance)
    np.testing.assert_allclose(back.origin, volume.origin, atol=tolerance * 1000)
    np.testing.assert_allclose(back.direction, volume.direction, atol=tolerance)


def test_nifti_orientation_matches_nibabel(tmp_path):
    """The (z, y, x) array and LPS geometry agree with nibabel's RAS view of the same file."""
    volume = oblique_volume()
    path = write_volume(volume, tmp_path / "image.nii.gz")
    img = nib.load(str(path))
    np.testing.assert_array_equal(np.asarray(img.dataobj).transpose(2, 1, 0), volume.array)
    index_zyx = np.array([3, 4, 5])
    ras = img.affine @ np.array([5, 4, 3, 1.0])
    lps = volume.index_to_physical(index_zyx)
    np.testing.assert_allclose(lps, ras[:3] * [-1, -1, 1], atol=1e-3)
    np.testing.assert_allclose(volume.physical_to_index(lps), index_zyx, atol=1e-9)


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import SimpleITK as sitk

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sitk, "WriteImage", broken)
    with pytest.raises(RuntimeError):
        write_volume(oblique_volume(), tmp_path / "image.nii.gz")
    assert list(tmp_path.iterdir()) == []


def test_write_replaces_atomically(tmp_path):
    path = tmp_path / "image.mha"
    write_volume(oblique_volume(), path)
    second = oblique_volume().with_array(np.zeros((7, 9, 11), np.float32))
    write_volume(second, path)
    assert read_volume(path).array.max() == 0
    assert [p.name for p in tmp_path.iterdir()] == ["image.mha"]


def test_missing_and_corrupt_files_give_clear_errors(tmp_path):
    with pytest.raises(PetsegError, match="file not found"):
        read_volume(tmp_path / "nope.nii.gz")
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(b"this is not an image")
    with pytest.raises(PetsegError, match="cannot read"):
        read_volume(corrupt)
    with pytest.raises(PetsegError, match="folder"):
        read_volume(tmp_path)
    with pytest.raises(PetsegError, match="use one of"):
        write_volume(oblique_volume(), tmp_path / "image.png")


def test_single_frame_4d_is_accepted_and_multi_frame_refused(tmp_path):
    data = np.arange(2 * 3 * 4, dtype=np.float32).reshape(4, 3, 2)
    nib.save(nib.Nifti1Image(data[..., None], np.diag([2.0, 2.0, 3.0, 1.0])), tmp_path / "one.nii.gz")
    assert read_volume(tmp_path / "one.nii.gz").shape == (2, 3, 4)
    nib.save(nib.Nifti1Image(np.stack([data, data], axis=-1), np.eye(4)), tmp_path / "two.nii.gz")
    with pytest.raises(PetsegError, match="4D"):
        read_volume(tmp_path / "two.nii.gz")


def test_non_orthonormal_nifti_is_read_with_a_warning(tmp_path):
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    affine[0, 1] = 0.05  # a sheared affine, as some converters write; ITK refuses it
    data = np.random.default_rng(1).random((5, 6, 7)).astype(np.float32)
    image = nib.Nifti1Image(data, affine)
    image.set_qform(None, code=0)
    image.set_sform(affine, code=1)
    nib.save(image, tmp_path / "sheared.nii.gz")
    with pytest.warns(PetsegWarning, match="not orthonormal"):
        volume = read_volume(tmp_path / "sheared.nii.gz")
    np.testing.assert_array_equal(volume.array, data.transpose(2, 1, 0))
    np.testing.assert_allclose(volume.direction_matrix @ volume.direction_matrix.T, np.eye(3), atol=1e-9)


def test_volume_validates_and_reports_geometry():
    with pytest.raises(PetsegError):
        Volume(np.zeros((2, 2)), (1, 1, 1))
    with pytest.raises(PetsegError):
        Volume(np.zeros((2, 2, 2)), (1, 0, 1))
    volume = Volume(np.zeros((2, 3, 4)), (2.0, 2.0, 3.0))
    assert volume.voxel_ml == pytest.approx(0.012)
    assert volume.spacing_zyx == (3.0, 2.0, 2.0)
    assert "spacing 2x2x3" in volume.describe_grid()
    assert volume.same_grid(Volume(np.ones((2, 3, 4)), (2.0, 2.0, 3.0005)))
    assert not volume.same_grid(Volume(np.ones((2, 3, 4)), (2.0, 2.0, 3.01)))
