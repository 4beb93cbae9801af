"""``newswire dev`` names a port that is taken, but not one a wire that just stopped has left behind."""

from __future__ import annotations

import socket

from services.wire.devenv import _port_free


def test_a_listening_port_is_taken() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not _port_free(listener.getsockname()[1])


def test_a_port_whose_server_just_closed_its_connections_is_free() -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    served, _ = listener.accept()
    served.close()  # the server side closes first: its end of the connection waits in TIME_WAIT
    client.recv(1)
    client.close()
    listener.close()
    assert _port_free(port)
