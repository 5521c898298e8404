"""Generation metrics: feature extractors, reference-statistics cache, FID/KID/IS/precision-recall.

One pipeline scores every family the same way (``GenerationScorer``), so numbers from
different families and runs line up: see ``docs/metrics.md``.
"""
