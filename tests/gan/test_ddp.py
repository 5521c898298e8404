"""DDP (gloo, 2 CPU processes, plain ``strategy=ddp``) through every GAN's manual optimisation step.

Slow: it starts two processes per family. Without ``gan.base.touch`` the D step raises DDP's
"parameters that were not used in producing the loss" error.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = """
import sys
import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset
from lightning_gen.gan.module import GAN
from lightning_gen.gan.translation import CycleGAN, Pix2Pix

S = [1, 16, 16]
x = torch.rand(32, 1, 16, 16) * 2 - 1
y = torch.randint(0, 10, (32,))
small = dict(latent_dim=8, g_widths=[8, 16], d_widths=[8, 16])
models = {
    "cgan": lambda: (GAN(S, 10, **small, conditional=True), TensorDataset(x, y)),
    "wgan_gp": lambda: (GAN(S, 0, **small, loss="wgan", gp_weight=10.0, n_critic=2), TensorDataset(x, y * 0 - 1)),
    "stylegan": lambda: (GAN(S, 0, **small, generator="style", r1_gamma=1.0), TensorDataset(x, y * 0 - 1)),
    "pix2pix": lambda: (Pix2Pix(S, g_widths=[8, 16], d_widths=[8, 16]), TensorDataset(x, -x)),
    "cyclegan": lambda: (CycleGAN(S, width=8, blocks=1, d_widths=[8, 16]), TensorDataset(x, -x)),
}
model, ds = models[sys.argv[1]]()
collate = None
if sys.argv[1] in ("wgan_gp", "stylegan"):
    collate = lambda b: (torch.stack([i[0] for i in b]), None)
trainer = L.Trainer(strategy="ddp", accelerator="cpu", devices=2, max_epochs=2, logger=False,
                    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
trainer.fit(model, DataLoader(ds, batch_size=8, collate_fn=collate))
if trainer.is_global_zero:
    print(f"DDP OK {sys.argv[1]} global_step={trainer.global_step}")
"""


@pytest.mark.slow
@pytest.mark.parametrize("family", ["cgan", "wgan_gp", "stylegan", "pix2pix", "cyclegan"])
def test_gan_trains_under_ddp_without_unused_parameter_errors(family, tmp_path):
    script = tmp_path / "ddp_gan.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run(
        [sys.executable, str(script), family],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"DDP OK {family}" in res.stdout
