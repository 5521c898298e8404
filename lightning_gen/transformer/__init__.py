"""Transformer family: VQ prior over VQ-VAE tokens, language model, sequence-to-sequence."""
