"""GLOW normalizing flow: invertible layers and the multi-scale model."""

from flowrestore.flow.glow import PRESETS, Glow, GlowConfig, Latent, bits_per_dim, preset

__all__ = ["PRESETS", "Glow", "GlowConfig", "Latent", "bits_per_dim", "preset"]
