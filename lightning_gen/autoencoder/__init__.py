"""Autoencoder families: plain and denoising autoencoders (VAEs live in ``lightning_gen.vae``)."""
