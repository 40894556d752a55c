#!/usr/bin/env python3
"""A minimal Alertmanager webhook receiver for the lab: appends every notification, stamped with the time it
arrived, as one JSON line to a file. The end-to-end alert test reads that file."""

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = os.path.join(os.environ.get("STATE_DIRECTORY", "/var/lib/webhook-receiver"), "alerts.jsonl")
MAX_BODY = 1 << 20


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self.send_error(413 if length else 411)
            return
        try:
            payload = json.loads(self.rfile.read(length))
        except ValueError:
            self.send_error(400, "body is not JSON")
            return
        with open(LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps({"received_at": time.time(), "payload": payload}) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        sys.stderr.write("webhook-receiver: " + fmt % args + "\n")


if __name__ == "__main__":
    host, port = sys.argv[1].rsplit(":", 1)
    ThreadingHTTPServer((host, int(port)), Receiver).serve_forever()
