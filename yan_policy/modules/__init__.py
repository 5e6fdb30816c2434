"""Building blocks shared by every policy: the learned sensor tokenizers and the per-tick fast ops."""

from yan_policy.modules.tokenizers import (
    AudioTokenizer,
    CameraTokenizer,
    ObservationEncoder,
    ProprioTokenizer,
)

__all__ = ["AudioTokenizer", "CameraTokenizer", "ObservationEncoder", "ProprioTokenizer"]
