"""An OpenID Connect issuer, as the Temporal UI's login provider would be, so the codec server's
check of a UI user's access token can be tried without one.

The issuer is `http://127.0.0.1:{fleet port}/oidc` (runbook.toml's [approvals] ui_issuer for the
default port): its discovery document and its keys, per OpenID Connect Discovery 1.0. Its RSA key
is made when first needed and lives in memory only, as long as the sandbox runs. Nobody logs in
here: a test or a demo asks the control endpoint
`POST /_sandbox/oidc/token {"sub", "email", "aud", "expires_in"}` for the access token the UI
would pass to the codec server after a login (RS256, a JWT).
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from runbook.config import RunbookConfig
from sandbox.web import ApiError, json_response, request_json

PATH = "/oidc"
ALGORITHM = "RS256"
DEFAULT_LIFETIME_S = 3600
# Negative mints a token already expired, which is how a test shows it refused.
LONGEST_LIFETIME_S = 24 * 3600


class OidcFake:
    def __init__(self, config: RunbookConfig) -> None:
        self._audience = config.approvals.ui_audience
        self._kid = f"sandbox-{secrets.token_hex(4)}"
        self._lock = threading.Lock()
        self._made: rsa.RSAPrivateKey | None = None

    @property
    def _key(self) -> rsa.RSAPrivateKey:
        # Made at first use: most of the sandbox's users never log in, and a key takes a while.
        with self._lock:
            if self._made is None:
                self._made = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._made

    def rules(self) -> list[Rule]:
        return [
            Rule(f"{PATH}/.well-known/openid-configuration", endpoint=self.discovery, methods=["GET"]),
            Rule(f"{PATH}/jwks", endpoint=self.jwks, methods=["GET"]),
            Rule(f"{PATH}/authorize", endpoint=self.no_login, methods=["GET", "POST"]),
            Rule(f"{PATH}/token", endpoint=self.no_login, methods=["POST"]),
            Rule("/_sandbox/oidc/token", endpoint=self.mint, methods=["POST"]),
        ]

    @staticmethod
    def issuer(request: Request) -> str:
        """The address the server listens on, whatever Host the client named: one issuer per sandbox."""
        return f"http://{request.environ['SERVER_NAME']}:{request.environ['SERVER_PORT']}{PATH}"

    def discovery(self, request: Request) -> Response:
        issuer = self.issuer(request)
        return json_response(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "jwks_uri": f"{issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [ALGORITHM],
            }
        )

    def jwks(self, request: Request) -> Response:
        key = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return json_response({"keys": [{**key, "kid": self._kid, "use": "sig", "alg": ALGORITHM}]})

    def no_login(self, request: Request) -> Response:
        return json_response(
            {
                "error": "unsupported_grant_type",
                "error_description": "the sandbox's issuer has no login: POST /_sandbox/oidc/token mints a token",
            },
            400,
        )

    def mint(self, request: Request) -> Response:
        body = request_json(request)
        subject, email = body.get("sub"), body.get("email")
        audience = body.get("aud", self._audience)
        lifetime = body.get("expires_in", DEFAULT_LIFETIME_S)
        if not isinstance(subject, str) or not subject:
            raise ApiError(400, "sub: a non-empty string (the login, e.g. bob)")
        if email is not None and not isinstance(email, str):
            raise ApiError(400, "email: a string")
        if not (
            isinstance(audience, str) or (isinstance(audience, list) and all(isinstance(a, str) for a in audience))
        ):
            raise ApiError(400, "aud: a string or a list of strings")
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or abs(lifetime) > LONGEST_LIFETIME_S:
            raise ApiError(400, f"expires_in: whole seconds from -{LONGEST_LIFETIME_S} to {LONGEST_LIFETIME_S}")
        now = int(time.time())
        # RFC 9068's access token: iss, sub, aud, exp, iat, jti and the client it was issued to.
        claims: dict[str, Any] = {"iss": self.issuer(request), "sub": subject, "aud": audience, "iat": now}
        claims.update(exp=now + lifetime, jti=secrets.token_hex(16), client_id=self._audience)
        if email is not None:
            claims["email"] = email
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self._kid, "typ": "at+jwt"})
        return json_response({"access_token": token, "token_type": "Bearer", "expires_in": lifetime, "claims": claims})
