"""What a run produced: counts, histograms, phase details, thresholds, reports and progress."""
