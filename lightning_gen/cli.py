"""``lgen <command> [hydra overrides]``: a thin dispatcher over the Hydra apps."""

from __future__ import annotations

import importlib
import sys

# command -> "module:function" of a Hydra app (each reads sys.argv itself)
COMMANDS: dict[str, str] = {
    "train": "lightning_gen.train:main",
}

USAGE = """usage: lgen <command> [key=value ...] [-m] [--help]

commands:
{commands}

Examples:
  lgen train                                   # default: autoencoder on bundled MNIST, CPU
  lgen train model=vae trainer.max_epochs=5
  lgen train experiment=vae_mnist debug=smoke
  lgen train -m model=autoencoder,vae          # Hydra multirun sweep
"""


def main(argv: list[str] | None = None) -> None:
    """Dispatch ``argv[0]`` to its Hydra app with the remaining arguments."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE.format(commands="\n".join(f"  {c}" for c in COMMANDS)))
        sys.exit(0 if argv else 2)
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        sys.exit(2)
    module, func = COMMANDS[command].split(":")
    sys.argv = [f"lgen {command}", *rest]
    getattr(importlib.import_module(module), func)()


if __name__ == "__main__":
    main()
