#!/usr/bin/env python3
"""A webhook receiver for the tests of the `webhooks` crate.

It checks every request's signature with the third-party Standard Webhooks library
(PyPI `standardwebhooks`, installed by webhooks/tests/tools.sh), answers 500 to the first
--fail requests and 204 to the rest, sleeps --sleep seconds before answering the first
--slow requests, and appends one JSON line per request to --log: the webhook-id and
-timestamp, whether the signature verified, the status it answered, the headers and the
body. It prints "listening" once it accepts connections.
"""

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--fail", type=int, default=0)
    parser.add_argument("--slow", type=int, default=0)
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()

    webhook = Webhook(args.secret)
    lock = threading.Lock()
    seen = [0]
    log = open(args.log, "a", encoding="utf-8")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            with lock:
                seen[0] += 1
                number = seen[0]
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                webhook.verify(body, headers)
                verified = True
            except (WebhookVerificationError, ValueError) as error:
                verified = False
                headers["x-verification-error"] = str(error)
            if number <= args.slow:
                time.sleep(args.sleep)
            status = 500 if number <= args.fail else 204
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender gave up (a timeout test): still recorded below
            record = {
                "id": headers.get("webhook-id"),
                "timestamp": headers.get("webhook-timestamp"),
                "verified": verified,
                "status": status,
                "headers": headers,
                "body": body.decode("utf-8", "replace"),
            }
            with lock:
                log.write(json.dumps(record) + "\n")
                log.flush()

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # two workers open up to 64 connections at once

    server = Server(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
