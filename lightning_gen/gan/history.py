"""History buffer of generated images (Shrivastava et al. 2017; CycleGAN's image pool)."""

from __future__ import annotations

import torch


class FakeHistory:
    """Keeps up to ``size`` past fakes; ``query(fakes)`` returns a batch where each image is, with
    probability ``p``, swapped for a stored one (which the new image replaces). ``size=0`` disables it.

    Images are stored detached on their device. ``state_dict`` / ``load_state_dict`` carry them
    through a checkpoint (a family calls them from its checkpoint hooks), so a resumed run queries
    the same pool as an uninterrupted one.
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

    def state_dict(self) -> dict[str, torch.Tensor]:
        """``{"images": (n, C, H, W)}`` (``(0,)`` while empty): plain tensors for ``weights_only``."""
        images = torch.stack(self.images).cpu() if self.images else torch.zeros(0)
        return {"images": images}

    def load_state_dict(
        self, state: dict[str, torch.Tensor], device: torch.device | None = None
    ) -> None:
        """Restore the pool saved by ``state_dict`` (onto ``device``)."""
        images = state["images"]
        if images.numel() and len(images) > self.size:
            raise ValueError(
                f"image pool of {len(images)} images does not fit history_size={self.size}"
            )
        self.images = (
            [img.to(device) if device is not None else img for img in images]
            if images.numel()
            else []
        )
