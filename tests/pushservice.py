"""A local stand-in for a push service (FCM, Mozilla's autopush), for the web push tests.

It listens on a free port of 127.0.0.1 and does what a push service must before it
accepts a push: it checks the VAPID token (RFC 8292: an ES256 JWT signed by the
key in ``k``, which must be the site's public key; ``aud`` its own origin, ``exp`` in
the future, ``sub`` the site's contact) and decrypts the body as the browser would
(RFC 8291, ``aes128gcm``) with the device's private key. Then it answers what the
test scripted for that device (201 by default).

:class:`Device` is a browser's side of a subscription: a real P-256 key pair and a
16-byte auth secret, and an endpoint on the stand-in.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Device:
    """A browser's subscription: its keys, and the endpoint the stand-in gave it."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def token(self) -> str:
        return self.endpoint.rsplit("/", 1)[-1]

    def keys(self) -> dict[str, str]:
        """``PushSubscription.toJSON()["keys"]``."""
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"p256dh": b64url(public), "auth": b64url(self.auth)}

    def subscription(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": self.keys()}


@dataclass
class Received:
    """One push the stand-in accepted or refused, decrypted."""

    token: str
    status: int
    message: dict[str, Any]
    claims: dict[str, Any]
    ttl: str | None


class PushService:
    """The stand-in. ``script(device, 410, 500)`` sets the answers to the device's next
    pushes (then 201); ``received`` lists every push that passed the checks; a push that
    failed them is in ``rejected`` with the reason (and answered 400)."""

    def __init__(self, public_key: str, contact: str) -> None:
        self.public_key = public_key
        self.contact = contact
        self.devices: dict[str, Device] = {}
        self.answers: dict[str, deque[int]] = defaultdict(deque)
        self.received: list[Received] = []
        self.rejected: list[str] = []
        #: Sent as Retry-After with each 429 and 503, when set.
        self.retry_after: int | None = None
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                status, reason = service._handle(self)
                self.send_response(status)
                if status in (429, 503) and service.retry_after is not None:
                    self.send_header("Retry-After", str(service.retry_after))
                self.send_header("Content-Length", str(len(reason)))
                self.end_headers()
                self.wfile.write(reason)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> PushService:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def device(self) -> Device:
        """A new browser subscription with an endpoint on this stand-in."""
        device = Device(f"{self.origin}/push/{b64url(os.urandom(12))}")
        self.devices[device.token] = device
        return device

    def script(self, device: Device, *statuses: int) -> None:
        self.answers[device.token].extend(statuses)

    def messages(self, device: Device | None = None) -> list[dict[str, Any]]:
        """What was delivered (answered 2xx), to ``device`` or to any."""
        return [
            r.message
            for r in self.received
            if 200 <= r.status < 300 and (device is None or r.token == device.token)
        ]

    def _handle(self, request: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        token = request.path.rsplit("/", 1)[-1]
        device = self.devices.get(token)
        if device is None:
            return 404, b"no such subscription"
        try:
            claims = self._check_vapid(request.headers.get("Authorization") or "")
            if request.headers.get("Content-Encoding") != "aes128gcm":
                raise ValueError("Content-Encoding is not aes128gcm")
            plain = http_ece.decrypt(
                body, private_key=device.private_key, auth_secret=device.auth, version="aes128gcm"
            )
            message = json.loads(plain)
        except Exception as exc:  # every failed check is a rejected push, with why
            with self._lock:
                self.rejected.append(f"{type(exc).__name__}: {exc}")
            return 400, b"rejected"
        with self._lock:
            answers = self.answers[token]
            status = answers.popleft() if answers else 201
            self.received.append(Received(token, status, message, claims, request.headers["TTL"]))
        return status, b""

    def _check_vapid(self, header: str) -> dict[str, Any]:
        """The claims of a valid ``vapid t=<jwt>, k=<key>`` header (RFC 8292)."""
        scheme, _, params = header.partition(" ")
        if scheme != "vapid":
            raise ValueError(f"Authorization scheme is {scheme!r}, not vapid")
        fields = dict(part.strip().split("=", 1) for part in params.split(","))
        if fields["k"] != self.public_key:
            raise ValueError("k is not the site's public key")
        head, payload, signature = fields["t"].split(".")
        if json.loads(unb64url(head)) != {"typ": "JWT", "alg": "ES256"}:
            raise ValueError("not an ES256 JWT")
        raw = unb64url(signature)
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(fields["k"]))
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        try:
            public.verify(der, f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise ValueError("bad JWT signature") from None
        claims: dict[str, Any] = json.loads(unb64url(payload))
        if claims.get("aud") != self.origin:
            raise ValueError(f"aud is {claims.get('aud')!r}, not {self.origin!r}")
        if not time.time() < claims["exp"] <= time.time() + 24 * 3600:
            raise ValueError("exp is not within the next 24 hours")
        if claims.get("sub") != self.contact:
            raise ValueError(f"sub is {claims.get('sub')!r}")
        return claims
