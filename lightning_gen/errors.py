"""User-facing errors: each names the problem and the fix; the CLI prints them without a traceback."""


class LgenError(Exception):
    """Base class for errors caused by user input (config, data, checkpoints)."""


class ConfigError(LgenError):
    """A config value is missing, of the wrong type, or not one of the valid choices."""


class DataError(LgenError):
    """A dataset is missing, empty, corrupt or inconsistent."""


class CheckpointError(LgenError):
    """A checkpoint is truncated, of another family, or of an incompatible config."""
