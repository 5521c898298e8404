"""Variational autoencoders: VAE / beta-VAE and the class-conditional VAE."""
