"""The uses of autoencoders, as pure functions over the contracts (``encode``, ``reconstruct``, ``decode``).

- ``compression``: bits of a quantised latent code vs the input, PSNR at that rate.
- ``denoising``: PSNR of noisy vs denoised images for a noise model.
- ``anomaly``: per-image reconstruction score, AUROC on held-out classes (``holdout.ExcludeClasses``).
- ``latent``: 2-D projection of the codes coloured by label, latent interpolation grids.

``tasks.TASKS`` runs them for ``lgen analyze``.
"""
