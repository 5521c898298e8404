"""Text data: tokenisers, corpora, TextDataModule, digit-string tasks."""
