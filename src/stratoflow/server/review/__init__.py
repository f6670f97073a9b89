"""Review: what the PI decides about imported data (decisions, manual flags)."""
