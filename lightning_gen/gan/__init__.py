"""GAN families: DCGAN, WGAN-GP, conditional GAN, style-based GAN (``module.GAN``), Pix2Pix and
CycleGAN (``translation``). Losses are pure functions in ``loss``; networks live in ``networks/``."""
