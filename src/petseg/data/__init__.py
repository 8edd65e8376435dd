"""Studies, datalists, importers and synthetic phantoms."""
