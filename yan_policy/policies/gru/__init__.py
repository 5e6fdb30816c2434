"""The GRU baseline (its section `gru` holds only its width; `hidden_size` 0 means `d_model`)."""
