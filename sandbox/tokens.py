"""Token minting and checking: RS256 JWTs shaped like Entra ID access tokens, one signing key per sandbox."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_ID = "sandbox-key-1"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TokenSigner:
    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public = self._key.public_key()

    def mint(
        self,
        *,
        audience: str,
        tenant_id: str,
        object_id: str,
        app_id: str,
        lifetime_s: int = 3600,
        issuer: str | None = None,
        subject: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": issuer or f"https://sts.windows.net/{tenant_id}/",
            "tid": tenant_id,
            "oid": object_id,
            "appid": app_id,
            "sub": subject or object_id,
            "iat": now,
            "nbf": now - 5,
            "exp": now + lifetime_s,
            "uti": uuid.uuid4().hex,
        }
        if extra:
            claims.update(extra)
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": KEY_ID})

    def verify(self, token: str, *, audience: str | list[str] | None = None) -> dict[str, Any]:
        """Claims of a valid token; raises ``jwt.InvalidTokenError`` otherwise."""
        options = {"verify_aud": audience is not None}
        return jwt.decode(
            token, self._public, algorithms=["RS256"], audience=audience, options=options, leeway=30
        )

    def jwks(self) -> dict[str, Any]:
        numbers = self._public.public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "kid": KEY_ID,
                    "alg": "RS256",
                    "n": _b64url_uint(numbers.n),
                    "e": _b64url_uint(numbers.e),
                }
            ]
        }

    def public_pem(self) -> bytes:
        return self._public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
