"""History buffer of generated images (Shrivastava et al. 2017; CycleGAN's image pool)."""

from __future__ import annotations

import torch


class FakeHistory:
    """Keeps up to ``size`` past fakes; ``query(fakes)`` returns a batch where each image is, with
    probability ``p``, swapped for a stored one (which the new image replaces). ``size=0`` disables it.

    Images are stored detached on their device; the buffer is not part of the checkpoint (it refills
    within ``size`` images after a resume).
    """

    def __init__(self, size: int = 50, p: float = 0.5) -> None:
        self.size, self.p = size, p
        self.images: list[torch.Tensor] = []

    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H, W)``: a mix of these fakes and older ones, detached."""
        if self.size == 0:
            return fakes.detach()
        out = []
        for img in fakes.detach():
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif float(torch.rand(())) < self.p:
                i = int(torch.randint(len(self.images), ()))
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)
