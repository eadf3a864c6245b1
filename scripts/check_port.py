"""Exit with a clear message when a TCP port on 127.0.0.1 is taken (``make demo``)."""

from __future__ import annotations

import socket
import sys

__all__: list[str] = []

if __name__ == "__main__":
    port = int(sys.argv[1])
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            sys.stderr.write(
                f"livebell demo: port {port} is already in use on 127.0.0.1.\n"
                f"Stop what is using it, or pick another port: make demo PORT={port + 1}\n"
            )
            sys.exit(1)
