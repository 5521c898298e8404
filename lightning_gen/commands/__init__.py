"""Command-line entry points (``lgen <command>``): thin Hydra apps that read a config and call
library functions. Nothing in the library imports from here."""
