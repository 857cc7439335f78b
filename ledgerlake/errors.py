"""The one error tree of ledgerlake.

Every error a user can cause or act on is a ``LedgerlakeError``; the CLI prints
``ErrorName: message`` on one line for these and exits 1, and never a traceback.

    LedgerlakeError
    ├── ConfigError          bad spec, option, or environment value (names the field)
    ├── ToolchainError       Go / gcc missing or too old, module proxy unreachable
    ├── CAError              the Fabric CA refused or failed a request
    └── NetworkError         the local Fabric network could not do what was asked
        ├── PortInUseError   a listener port is taken (names the port and the process)
        ├── NodeFailedError  a node process died or never became healthy (carries its log tail)
        └── NotRunningError  the command needs a running network and there is none
"""

from __future__ import annotations


class LedgerlakeError(Exception):
    """Base class of every error ledgerlake raises on purpose."""


class ConfigError(LedgerlakeError, ValueError):
    """A configuration value (spec field, option, environment variable) is invalid."""


class ToolchainError(LedgerlakeError):
    """The Fabric toolchain cannot be installed or found."""


class CAError(LedgerlakeError):
    """A Fabric CA request failed; ``code`` is the CA's error code when it gave one."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class NetworkError(LedgerlakeError):
    """The local network could not do what was asked."""


class PortInUseError(NetworkError):
    """A port the network needs is already taken."""

    def __init__(self, port: int, owner: str | None, node: str):
        who = f" by {owner}" if owner else " by another process"
        super().__init__(
            f"port {port} needed by {node} is taken{who}; stop it or choose another "
            f"--base-port"
        )
        self.port = port
        self.owner = owner
        self.node = node


class NodeFailedError(NetworkError):
    """A node died or did not become healthy; ``log_tail`` holds the end of its log."""

    def __init__(self, node: str, reason: str, log_tail: str = ""):
        super().__init__(f"{node} {reason}")
        self.node = node
        self.log_tail = log_tail


class NotRunningError(NetworkError):
    """The command needs a running network."""
