"""Who is logged in to the Temporal UI: the user's OIDC access token, which the UI passes to the codec
server (TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true), checked against [approvals] ui_issuer's own keys.

The token must be a JWT signed RS256 or ES256 by a key of the issuer's discovery document's
`jwks_uri` (OpenID Connect Discovery 1.0), issued by exactly ui_issuer, for ui_audience, not
expired, and name its subject. The discovery document and the keys are fetched when first needed
and kept (the keys refreshed after a few minutes, or at once, at most every 30 s, for an unknown key ID).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import httpx
import jwt

ALGORITHMS = ["RS256", "ES256"]
FETCH_TIMEOUT_S = 5.0
# Keys are rotated by the issuer; a key ID not seen before is looked for again at most this often.
KEYS_LIFESPAN_S = 300.0


class LoginRefused(Exception):
    """The token is not a login of the configured issuer and audience; why, for the 401."""


class IssuerUnreachable(Exception):
    """The issuer's discovery document or keys could not be read; nothing can be checked."""


@dataclass(frozen=True)
class Login:
    subject: str
    email: str = ""


class LoginVerifier:
    def __init__(self, issuer: str, audience: str, *, timeout_s: float = FETCH_TIMEOUT_S) -> None:
        self.issuer, self.audience, self._timeout_s = issuer, audience, timeout_s
        self._keys: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def verify(self, token: str) -> Login:
        try:
            header = jwt.get_unverified_header(token)
            claimed = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise LoginRefused(f"the bearer token is not a JWT: {error}") from None
        if header.get("alg") not in ALGORITHMS:
            raise LoginRefused(f"the token is signed {header.get('alg')!r}; {' or '.join(ALGORITHMS)} only")
        # Said before any key is fetched: a token of another issuer names keys that are not ours.
        if claimed.get("iss") != self.issuer:
            raise LoginRefused(
                f"the token is issued by {claimed.get('iss')!r}, not {self.issuer} ([approvals] ui_issuer)"
            )
        try:
            key = self._key_set().get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as error:
            raise IssuerUnreachable(f"cannot read the keys of {self.issuer}: {error}") from None
        except jwt.PyJWKClientError as error:
            raise LoginRefused(f"the token is not signed by a key of {self.issuer}: {error}") from None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["iss", "aud", "exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise LoginRefused("the token has expired: log in again") from None
        except jwt.InvalidAudienceError:
            raise LoginRefused(f"the token is not for {self.audience!r} ([approvals] ui_audience)") from None
        except jwt.InvalidSignatureError:
            raise LoginRefused(f"the token's signature does not verify with the keys of {self.issuer}") from None
        except jwt.PyJWTError as error:
            raise LoginRefused(f"the token is refused: {error}") from None
        email = claims.get("email")
        return Login(subject=str(claims["sub"]), email=email if isinstance(email, str) else "")

    def _key_set(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._keys is None:
                self._keys = jwt.PyJWKClient(
                    self._discovered_jwks_uri(), lifespan=KEYS_LIFESPAN_S, timeout=self._timeout_s
                )
            return self._keys

    def _discovered_jwks_uri(self) -> str:
        where = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
        try:
            answer = httpx.get(where, timeout=self._timeout_s)
            answer.raise_for_status()
            document = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise IssuerUnreachable(f"cannot read {where}: {error or type(error).__name__}") from None
        # Discovery 1.0, 4.3: the document's issuer is exactly the one asked, or it is not to be used.
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            found = document.get("issuer") if isinstance(document, dict) else None
            raise IssuerUnreachable(f"{where} names the issuer {found!r}, not {self.issuer}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise IssuerUnreachable(f"{where} has no jwks_uri")
        return jwks_uri
