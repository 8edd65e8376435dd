"""Synthetic whole-body PET/CT studies with lesions and physiological uptake (see `generate`)."""

from petseg.data.phantom.generate import (
    PhantomStudy,
    PlacedLesion,
    make_phantom_study,
    write_phantom_cohort,
)

__all__ = ["PhantomStudy", "PlacedLesion", "make_phantom_study", "write_phantom_cohort"]
