"""The GRU baseline (it needs no config section of its own: `d_model` and `n_layers` only)."""
