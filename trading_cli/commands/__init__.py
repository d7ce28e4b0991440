"""One file per command group; each imports heavy libraries inside its commands."""
