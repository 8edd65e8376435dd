"""Models shipped with petseg, each a model folder with its model card (`--model builtin:NAME`)."""
