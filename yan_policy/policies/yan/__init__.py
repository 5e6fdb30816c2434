"""The Yan policy: MCSD blocks, top-k sparse MLPs and a native memory."""
