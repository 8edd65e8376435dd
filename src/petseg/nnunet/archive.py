"""nnU-Net model zips (`nnUNetv2_export_model_to_zip`), unpacked safely once into petseg's cache.

The cache folder is keyed by the zip's content (SHA-256), so the same zip is unpacked once however it is named
and a changed zip never meets a stale folder: `$PETSEG_CACHE`, else `$XDG_CACHE_HOME/petseg`, else
`~/.cache/petseg`, then `nnunet/<hash>/`. Every member is checked before anything is written (no absolute path,
no `..`, no link, room on the disk); the zip is extracted into a temporary folder beside the final one and moved
into place whole, so a failed or concurrent unpacking never leaves a half folder under the final name.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from petseg.errors import PetsegError
from petseg.io.digest import file_sha256
from petseg.nnunet.folder import DATASET_JSON, is_model_folder

HASH_CHARS = 16


def cache_root() -> Path:
    """petseg's cache folder (see the module docstring)."""
    if os.environ.get("PETSEG_CACHE"):
        return Path(os.environ["PETSEG_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "petseg"


def checked_members(archive: zipfile.ZipFile, path: Path) -> list[zipfile.ZipInfo]:
    """The zip's members, refused in one line if any would land outside the folder or is a link."""
    members = archive.infolist()
    for member in members:
        name = PurePosixPath(member.filename.replace("\\", "/"))
        if name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0]):
            raise PetsegError(f"{path} is refused: its member {member.filename!r} would be written outside the "
                              "folder it is unpacked into")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise PetsegError(f"{path} is refused: its member {member.filename!r} is a symbolic link")
    return members


def _extract(path: Path, target: Path) -> None:
    """Extract the checked zip `path` into a new folder `target` (atomically: temporary folder, then rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(path) as archive:
            members = checked_members(archive, path)
            needed = sum(m.file_size for m in members)
            free = shutil.disk_usage(target.parent).free
            if needed > free:
                raise PetsegError(f"unpacking {path} needs {needed / 1e9:.1f} GB, {target.parent} has "
                                  f"{free / 1e9:.1f} GB free: free space or set PETSEG_CACHE to another folder")
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
            try:
                for member in members:
                    archive.extract(member, staging)
                os.replace(staging, target)
            except OSError:
                if target.is_dir():  # another process unpacked the same zip first: keep its folder
                    return
                raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except (zipfile.BadZipFile, EOFError) as error:
        raise PetsegError(f"{path} is not a readable zip ({error}); download or export it again") from None


def model_folders(root: Path) -> list[Path]:
    """The nnU-Net model folders (dataset.json beside fold_* folders) anywhere under `root`."""
    return sorted(p.parent for p in root.rglob(DATASET_JSON) if is_model_folder(p.parent))


def unpack_model_zip(path: Path) -> Path:
    """The one model folder of the zip `path`, unpacked into the cache (once per zip content)."""
    if not zipfile.is_zipfile(path):
        raise PetsegError(f"{path} is a file but not a zip: give an nnU-Net model folder or the zip "
                          "nnUNetv2_export_model_to_zip wrote")
    target = cache_root() / "nnunet" / file_sha256(path)[:HASH_CHARS]
    if not target.is_dir():
        _extract(path, target)
    found = model_folders(target)
    if not found:
        raise PetsegError(f"{path} holds no nnU-Net model folder ({DATASET_JSON}, plans.json and fold_* in one "
                          "folder)")
    if len(found) > 1:
        listed = ", ".join(str(f) for f in found)
        raise PetsegError(f"{path} holds {len(found)} nnU-Net model folders; give one of them to --model: {listed}")
    return found[0]
