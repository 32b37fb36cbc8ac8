"""Reports of external load tools (hey, ghz) read back into figures thresholds can judge."""
