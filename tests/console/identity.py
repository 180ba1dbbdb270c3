"""A local stand-in for the company's identity provider: signing keys, a JWKS endpoint on a
loopback port, and tokens signed like the real provider signs them.

The JWKS endpoint can rotate its keys and fail (answer 503) on demand, and counts how often
the router fetched it.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from devstack.net import free_port

ISSUER = "https://login.example.com/"
AUDIENCE = "conversation-router"
JWKS_PATH = "/.well-known/jwks.json"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class IdentityProvider:
    """Keys by id, the ids the JWKS publishes, and whether the JWKS endpoint answers."""

    def __init__(self) -> None:
        self.keys: dict[str, PrivateKey] = {
            "rsa-1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "rsa-2": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec-1": ec.generate_private_key(ec.SECP256R1()),
        }
        self.published: list[str] = []
        self.failing = False
        self.fetches = 0
        self.url = ""
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.published = ["rsa-1", "ec-1"]
            self.failing = False
            self.fetches = 0

    def publish(self, *key_ids: str) -> None:
        with self._lock:
            self.published = list(key_ids)

    def key_set(self) -> dict[str, Any]:
        keys = []
        for key_id in self.published:
            private = self.keys[key_id]
            if isinstance(private, rsa.RSAPrivateKey):
                document = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
                document["alg"] = "RS256"
            else:
                document = json.loads(ECAlgorithm.to_jwk(private.public_key()))
                document["alg"] = "ES256"
            keys.append({**document, "kid": key_id, "use": "sig"})
        return {"keys": keys}

    def token(
        self,
        key_id: str = "rsa-1",
        *,
        signed_by: PrivateKey | None = None,
        **claims: Any,
    ) -> str:
        """A token as the provider issues it; `claims` override (None removes) the defaults."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "ada@example.com",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        }
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        private = signed_by or self.keys[key_id]
        algorithm = "RS256" if isinstance(private, rsa.RSAPrivateKey) else "ES256"
        return jwt.encode(payload, private, algorithm=algorithm, headers={"kid": key_id})

    def answer(self) -> tuple[int, bytes]:
        with self._lock:
            self.fetches += 1
            if self.failing:
                return 503, b'{"error": "temporarily unavailable"}'
            return 200, json.dumps(self.key_set()).encode()


class IdentityProviderServer:
    """Serves the provider's JWKS with `http.server` in a background thread."""

    def __init__(self) -> None:
        self.provider = IdentityProvider()
        provider = self.provider

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != JWKS_PATH:
                    self.send_error(404)
                    return
                status, body = provider.answer()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        provider.url = f"http://127.0.0.1:{port}{JWKS_PATH}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-identity-provider", daemon=True
        )

    def start(self) -> IdentityProvider:
        self._thread.start()
        return self.provider

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
