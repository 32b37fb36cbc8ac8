"""What to run: one LoadSpec, and the parsers that build it (metadata, hey flags, scenarios)."""
