"""Training: recipes as data (one per seed paper, tiny ones for CPUs), losses, dataset fingerprints."""
