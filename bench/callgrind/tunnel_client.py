#!/usr/bin/env python3
"""Makes SOCKS5 CONNECT tunnels one at a time through a proxy, each to an echo server of its own on loopback.

usage: tunnel_client.py PROXY_HOST:PORT TUNNELS

Each tunnel: the greeting (no authentication), a CONNECT to the echo's IPv4 address, 16 bytes up and back, a
half-close from the client, and the close once the proxy has passed the echo's FIN on. Exits non-zero on any
unexpected byte, so a run that counts instructions counts good tunnels only.
"""
import socket
import struct
import sys
import threading


def echo_server():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)

    def serve():
        while True:
            connection, _ = listener.accept()
            with connection:
                data = connection.recv(64)
                if data:
                    connection.sendall(data)
                while connection.recv(64):
                    pass

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def receive_exactly(connection, count):
    data = b""
    while len(data) < count:
        chunk = connection.recv(count - len(data))
        if not chunk:
            raise RuntimeError(f"the proxy closed after {len(data)} of {count} bytes")
        data += chunk
    return data


def tunnel(proxy, echo_port, payload):
    with socket.create_connection(proxy, timeout=30) as connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.sendall(b"\x05\x01\x00")
        if receive_exactly(connection, 2) != b"\x05\x00":
            raise RuntimeError("the proxy refused the greeting")
        connection.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", echo_port))
        reply = receive_exactly(connection, 10)
        if reply[:2] != b"\x05\x00":
            raise RuntimeError(f"CONNECT answered {reply[1]:#04x}")
        connection.sendall(payload)
        if receive_exactly(connection, len(payload)) != payload:
            raise RuntimeError("the echo came back different")
        connection.shutdown(socket.SHUT_WR)
        while connection.recv(64):
            pass


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    count = int(sys.argv[2])
    echo_port = echo_server()
    payload = bytes(range(16))
    for _ in range(count):
        tunnel((host, int(port)), echo_port, payload)


if __name__ == "__main__":
    main()
