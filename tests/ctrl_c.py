"""Children that a test stops with Ctrl-C (SIGINT) must take it even when the test run was
started in the background, where the shell ignores SIGINT and every child inherits that
(Python then installs no KeyboardInterrupt handler). Pass ``preexec_fn=takes_ctrl_c``."""

from __future__ import annotations

import signal


def takes_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
