"""The per-tick MLP baseline (no memory across ticks)."""
