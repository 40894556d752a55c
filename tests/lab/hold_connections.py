"""Open many TLS connections to one address from this host and hold them (the abuse test runs it on a lab host).

    python3 hold_connections.py <address> <count> <hold-seconds>

Prints one JSON line: how many connections opened, were refused, failed otherwise (timeout, reset), and how many
of the held ones still answered a request after the hold. Standard library only; bounded by count and time.
"""

import json
import socket
import ssl
import sys
import time


def main(address: str, count: int, hold: float) -> None:
    context = ssl.create_default_context()  # the host trusts the lab CA (roles/common)
    held, refused, failed = [], 0, 0
    deadline = time.monotonic() + 120
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        try:
            raw = socket.create_connection((address, 443), timeout=2)
            held.append(context.wrap_socket(raw, server_hostname=address))
        except ConnectionRefusedError:
            refused += 1
        except OSError:
            failed += 1
    time.sleep(hold)
    served = 0
    for conn in held:
        try:
            conn.settimeout(5)
            conn.sendall(f"GET /api/v1/health HTTP/1.1\r\nHost: {address}\r\n\r\n".encode())
            served += conn.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            pass
        conn.close()
    print(json.dumps({"opened": len(held), "refused": refused, "failed": failed, "served_after_hold": served}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
