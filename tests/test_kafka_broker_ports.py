"""The local broker's start tells a taken port apart by type (:class:`PortTaken`): with ports it chose
itself it picks new ones once, with a port it was given the error says which port and why."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sinkapp_testkit.kafka import LocalKafka, PortTaken

pytestmark = pytest.mark.kafka


def test_a_given_port_that_is_taken_is_port_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = LocalKafka(tmp_path / "kafka", port=port)
        try:
            with pytest.raises(PortTaken, match="Address already in use"):
                broker.start(60)
        finally:
            broker.stop()
