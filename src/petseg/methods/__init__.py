"""Segmentation methods that need no training (the SUV method); trained models live in `petseg.infer`."""
