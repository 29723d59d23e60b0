"""Helpers of the benchmark tests."""

from __future__ import annotations

import socket


def closed_port_url(filename: str) -> str:
    """A URL on this machine where nothing listens: downloading from it fails at once, as
    offline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{filename}"
