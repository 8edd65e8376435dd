"""Reading and writing images and files. Knows nothing of models."""
