"""The sandbox's OIDC issuer, as the codec server reads it: a discovery document naming the issuer it
is served at and its keys, and access tokens those keys verify (the codec server's own checks are
tests/badinput/test_codec_attestation.py)."""

from __future__ import annotations

import jwt
import pytest
from werkzeug.test import Client

from runbook.config import load_config
from sandbox.fakes import Fakes
from sandbox.web import WebApp

SANDBOX = "http://127.0.0.1:8080"
ISSUER = f"{SANDBOX}/oidc"


@pytest.fixture(scope="module")
def issuer() -> Client:
    return Client(WebApp(Fakes(load_config()).rules()))


def test_the_discovery_document_names_the_issuer_and_its_keys(issuer):
    document = issuer.get("/oidc/.well-known/openid-configuration", base_url=SANDBOX).json
    assert document["issuer"] == ISSUER == load_config().approvals.ui_issuer
    assert document["jwks_uri"] == f"{ISSUER}/jwks"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    for required in ("authorization_endpoint", "token_endpoint", "response_types_supported", "subject_types_supported"):
        assert required in document


def test_a_minted_token_verifies_with_the_published_key_and_carries_the_login(issuer):
    minted = issuer.post(
        "/_sandbox/oidc/token", base_url=SANDBOX, json={"sub": "bob", "email": "bob@skillancer.com"}
    ).json
    [published] = issuer.get("/oidc/jwks", base_url=SANDBOX).json["keys"]
    assert jwt.get_unverified_header(minted["access_token"])["kid"] == published["kid"]
    claims = jwt.decode(
        minted["access_token"], jwt.PyJWK(published).key, algorithms=["RS256"], audience="runbook-ui", issuer=ISSUER
    )
    assert (claims["sub"], claims["email"], claims["exp"] - claims["iat"]) == ("bob", "bob@skillancer.com", 3600)


@pytest.mark.parametrize(
    ("body", "named"),
    [({}, "sub"), ({"sub": "bob", "aud": 7}, "aud"), ({"sub": "bob", "expires_in": "1h"}, "expires_in")],
)
def test_a_malformed_mint_request_is_refused_naming_the_field(issuer, body, named):
    answer = issuer.post("/_sandbox/oidc/token", base_url=SANDBOX, json=body)
    assert answer.status_code == 400
    assert answer.json["error"].startswith(f"{named}:")
