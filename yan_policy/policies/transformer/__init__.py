"""The causal Transformer baseline (KV cache)."""
