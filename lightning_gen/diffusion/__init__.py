"""Diffusion family: noise schedule and samplers as plain math; the network lives in ``networks/``."""
