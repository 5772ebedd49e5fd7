"""What only the embedded SQLite index has: Covalent's compatibility view, file
health checks, checkpoints."""
