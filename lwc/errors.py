"""Errors a user can cause. Each carries one line that names the file or option and the problem."""

__all__ = [
    "LwcError",
    "NetFileError",
    "DataError",
    "ToolchainError",
    "BuildError",
    "UsageError",
]


class LwcError(Exception):
    """Base of every error lwc reports to a user; the CLI prints it without a traceback."""


class NetFileError(LwcError):
    """A ``net.pt`` file is missing, unreadable, or does not describe a valid network."""

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DataError(LwcError):
    """A dataset or vector file is missing or malformed."""


class ToolchainError(LwcError):
    """A required external tool (Yosys, nextpnr, a simulator, a programmer) is missing or failed."""


class BuildError(LwcError):
    """A design does not fit, or synthesis / place-and-route failed."""


class UsageError(LwcError):
    """A command-line option or API argument is out of range."""
