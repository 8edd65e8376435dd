"""nnU-Net v2 trained-model folders run through petseg (published autoPET models).

nnunetv2 itself preprocesses the study, builds the network from the plans, places and weights the windows,
mirrors, averages the folds and post-processes; petseg adds the study (DICOM, SUV, the CT on the PET grid), the
window gate inside nnU-Net's window loop, and its results. nnunetv2 is optional and imported only when an nnU-Net
model is run (`runtime.require_nnunetv2`); recognising and checking a model folder needs neither it nor torch.
"""
