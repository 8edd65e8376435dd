"""petseg: lesion segmentation and quantification in whole-body PET/CT."""

__version__ = "0.1.0"
