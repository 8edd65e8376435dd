"""Networks (MONAI) built from recipes."""
