"""VQ-VAE: vector-quantised autoencoder (first stage of the Transformer prior)."""
