"""The Hydra configs of ``lgen`` (``configs/`` in the repository, shipped as ``lightning_gen.configs``).

Structured schemas (dataclasses) are stored in Hydra's ConfigStore here, where every ``lgen``
command and every test finds the configs: ``analyze_schema`` (``lightning_gen.analysis.options``).
"""

from lightning_gen.analysis.options import register_configs

register_configs()
