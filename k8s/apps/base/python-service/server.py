"""Tiny HTTP service (standard library only) mounted from a ConfigMap into the Python image.

GET /healthz: alive. GET /readyz: ready once the credential file is present. GET /: a JSON
document with the service's items and, when UPSTREAM_URL is set, what the upstream answered.
"""

import json
import os
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SERVICE = os.environ.get("SERVICE_NAME", "app")
UPSTREAM = os.environ.get("UPSTREAM_URL", "")
ITEMS = json.loads(os.environ.get("ITEMS", "[]"))
# How long the app waits for its upstream's answer (urlopen's socket timeout); the mesh's
# retry/timeout budget ends before it.
UPSTREAM_TIMEOUT = float(os.environ.get("UPSTREAM_TIMEOUT_SECONDS", "3"))
CREDENTIAL = Path(os.environ.get("CREDENTIAL_FILE", "/var/run/secrets/app/credential"))


def upstream() -> object:
    if not UPSTREAM:
        return None
    try:
        with urllib.request.urlopen(UPSTREAM, timeout=UPSTREAM_TIMEOUT) as response:
            return json.load(response)
    except (OSError, ValueError) as error:
        return {"error": str(error)}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            self.reply(200, {"status": "ok"})
        elif self.path == "/readyz":
            ready = CREDENTIAL.is_file() and CREDENTIAL.stat().st_size > 0
            self.reply(200 if ready else 503, {"ready": ready})
        else:
            body = {
                "service": SERVICE,
                "environment": os.environ.get("ENVIRONMENT"),
                "zone": os.environ.get("KUMA_ZONE"),
                "items": ITEMS,
                "upstream": upstream(),
            }
            self.reply(200, body)

    def reply(self, status: int, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


if __name__ == "__main__":
    ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
