"""petseg: lesion segmentation and quantification in whole-body PET/CT."""

import os

__version__ = "0.1.0"

# OpenMP threads that spin while waiting cost up to 20x on a machine shared with other jobs (measured: a training
# step 1.67 s spinning vs 0.55 s passive, with 2 threads on 2 busy cores). Passive waiting costs nothing on an idle
# machine. It must be set before torch loads OpenMP; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
