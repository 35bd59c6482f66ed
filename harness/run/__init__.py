"""Running scenarios: the storm, the fault timeline and the consumers against the stack, then
the verdict (checks, thresholds, expectations) and the run's artifacts."""
