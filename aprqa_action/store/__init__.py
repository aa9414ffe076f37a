"""Evidence on disk: written atomically as a run goes, read back (0.1.0 files included), merged."""
