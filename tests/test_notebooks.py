"""The teaching notebooks (``notebooks/``): committed without outputs, built on the public API only,
and executed top to bottom in FAST mode (in the default suite) with their key numbers checked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# notebook -> {printed quantity: (regex with one number, lower bound)}
EXPECTED: dict[str, dict[str, tuple[str, float]]] = {
    "01_encoders_decoders.ipynb": {
        "reconstruction PSNR": (r"test PSNR = ([-\d.]+) dB", 15.0),
        "anomaly AUROC": (r"anomaly AUROC = ([-\d.]+)", 0.5),
        "denoising gain": (r"denoising gain = ([-\d.]+) dB", 0.0),
    },
    "02_variational_autoencoders.ipynb": {
        "VAE reconstruction PSNR": (r"VAE test PSNR = ([-\d.]+) dB", 12.0),
        "KL decreases with beta": (r"KL falls with beta: (True)", 0.0),
        "CVAE control accuracy": (r"CVAE control accuracy = ([-\d.]+)", 0.2),
    },
    "03_gans.ipynb": {
        "recall drop under collapse": (r"recall drop under collapse = ([-\d.]+)", 0.0),
        "Pix2Pix PSNR": (r"Pix2Pix test PSNR = ([-\d.]+) dB", 10.0),
    },
    "04_diffusion.ipynb": {
        "forward SNR is monotone": (r"forward SNR decreases monotonically: (True)", 0.0),
        "sampling time grows with steps": (r"time grows with steps: (True)", 0.0),
        "guidance moves the classifier": (
            r"guidance changes requested-class log-probability by ([-\d.]+)",
            0.0,
        ),
        "inpainting keeps known pixels": (r"inpainting keeps the known pixels: (True)", 0.0),
        "latent diffusion samples faster": (r"latent sampling speed-up = ([-\d.]+)", 1.0),
    },
    "05_transformers.ipynb": {
        "causal mask hides the future": (
            r"causal: earlier outputs unchanged by a future token: (True)",
            0.0,
        ),
        "LM learns": (r"LM beats the uniform byte model by ([-\d.]+) bits", 0.5),
        "VQ-VAE reconstruction PSNR": (r"VQ-VAE test PSNR = ([-\d.]+) dB", 9.0),
        "VQ prior learns": (r"prior beats a uniform code model by ([-\d.]+) bits", 0.5),
    },
    "06_comparing_families.ipynb": {
        "benchmark runs finished": (r"finished runs = (\d+) of", 5.0),
        "one-pass families sample faster": (r"sampling speed ratio vae/c?ddpm = ([-\d.]+)", 1.0),
    },
}


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def test_the_course_is_there():
    names = [p.name for p in NOTEBOOKS]
    assert names == list(EXPECTED), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    for i, cell in enumerate(_cells(path)):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs: strip them"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has a count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_uses_the_library_not_its_own_models(path):
    code = "\n".join("".join(c["source"]) for c in _cells(path) if c["cell_type"] == "code")
    assert "from lightning_gen" in code and 'os.environ.get("LGEN_FAST")' in code
    assert not re.search(r"^\s*class\s", code, re.M), f"{path.name} defines a class"
    assert "nn.Module" not in code and "LightningModule" not in code
    assert "matplotlib.use(" not in code  # the kernel's inline backend draws the figures


def test_readme_links_every_notebook():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert f"(notebooks/{path.name})" in readme, f"README does not link {path.name}"


# seconds one cell may run in FAST mode before nbclient stops the kernel (the longest cell, notebook
# 06's benchmark, takes about 45 s; a whole notebook 25-50 s on a shared 2-core machine)
CELL_TIMEOUT = 240


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    """One ``LGEN_CACHE`` for all the notebooks of a session: the MNIST feature classifier (and
    reference statistics) that several notebooks use is trained once, as on a student's machine."""
    return tmp_path_factory.mktemp("lgen_cache")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_fast_mode(path, tmp_path, monkeypatch, shared_cache):
    """Execute the notebook in a fresh kernel (runs under tmp_path), then check that every cell
    that draws shows a PNG and that the printed key numbers are sane."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("LGEN_FAST", "1")
    monkeypatch.setenv("LGEN_ROOT", str(tmp_path))
    monkeypatch.setenv("LGEN_CACHE", str(shared_cache))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    text = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        outputs = cell.get("outputs", [])
        text += [o.get("text", "") for o in outputs if o.get("output_type") == "stream"]
        if "plt.show()" in cell.source:
            pngs = [o for o in outputs if "image/png" in o.get("data", {})]
            assert pngs, f"{path.name} cell {i} draws but shows no PNG"
    printed = "".join(text)
    for what, (pattern, low) in EXPECTED.get(path.name, {}).items():
        match = re.search(pattern, printed)
        assert match, f"{path.name} did not print {what} ({pattern})"
        value = 1.0 if match.group(1) == "True" else float(match.group(1))
        assert value > low, f"{path.name}: {what} = {value} (expected > {low})"
