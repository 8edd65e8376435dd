"""Shared fixtures: small synthetic studies and the path to the shared real data."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REAL_DATA = SHARED / "data" / "real"


@pytest.fixture(scope="session")
def small_phantom():
    """A small FDG phantom study with lesions (session-wide; do not modify its arrays)."""
    from petseg.data.phantom import make_phantom_study

    return make_phantom_study(seed=1, patient=0, visit=0, tracer="fdg", size="small", n_lesions=10)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The shared real PET/CT data folder (tests using it skip where it is absent)."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"shared real data not found at {REAL_DATA}")
    return REAL_DATA
