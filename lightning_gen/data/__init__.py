"""Data: one image DataModule and interchangeable sources (bundled, folders, public datasets)."""

from lightning_gen.data.datamodule import ImageDataModule
from lightning_gen.data.dataset import ImageTensorDataset

__all__ = ["ImageDataModule", "ImageTensorDataset"]
