"""``lgen <command> [hydra overrides]``: a thin dispatcher over the Hydra apps."""

from __future__ import annotations

import importlib
import importlib.util
import sys

from lightning_gen.cli_errors import check_output_root

# command -> "module:function" of a Hydra app (each reads sys.argv itself)
COMMANDS: dict[str, str] = {
    "train": "lightning_gen.commands.train:main",
    "evaluate": "lightning_gen.commands.evaluate:main",
    "classifier": "lightning_gen.commands.classifier:main",
    "sample": "lightning_gen.commands.sample:main",
    "analyze": "lightning_gen.commands.analyze:main",
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
        print(
            f"error: unknown command {command!r}; choose one of: {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        sys.exit(2)
    module, func = COMMANDS[command].split(":")
    if not any(a in ("-h", "--help", "--cfg", "-c") for a in rest):
        check_output_root(rest)  # one line instead of Hydra's mkdir traceback
    delegate_main(module, rest)
    getattr(importlib.import_module(module), func)()


def delegate_main(module: str, rest: list[str]) -> None:
    """Make the process look as if ``module`` had been run directly with ``rest``.

    Lightning's DDP launcher starts the other ranks by re-running ``sys.argv`` (as a script path,
    or as ``python -m <__main__.__spec__.name>``); both must name the command's own module, not
    ``lgen``, whose first argument would otherwise be taken for an override.
    """
    spec = importlib.util.find_spec(module)
    sys.argv = [spec.origin, *rest]
    main_module = sys.modules.get("__main__")
    if main_module is not None and getattr(main_module, "__spec__", None) is not None:
        main_module.__spec__ = (
            spec  # python -m lightning_gen.commands.cli -> children run python -m <module>
        )


if __name__ == "__main__":
    main()
