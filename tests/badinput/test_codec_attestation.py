"""The codec server vouches for who sent a decision from the Temporal UI: driven at /encode as the UI
does (protobuf-JSON payloads, base64 data, the user's access token as the bearer), with tokens from
the sandbox's OIDC issuer. A decision by the logged-in person gets a proof the workflow's own check
accepts; a token from another issuer, for another audience, expired or forged is answered 401; a
payload naming someone else is answered 403; without a token payloads pass unchanged (unverified).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from runbook.config import ConfigError, RunbookConfig, load_config
from runbook.proof import Proof, ProofRefused, verify
from sandbox.oidc import OidcFake
from sandbox.web import WebApp, WebServer
from starter.codec_server import CodecServer, ui_attester
from tests.support import server_url, serving

CONFIG = load_config()


@pytest.fixture(scope="module")
def issuers() -> Iterator[tuple[str, str]]:
    """The sandbox's issuer and another one, each serving its own discovery document and keys."""
    servers = [WebServer(WebApp(OidcFake(CONFIG).rules()), 0) for _ in range(2)]
    for server in servers:
        server.start()
    try:
        ours, theirs = (f"http://127.0.0.1:{server.port}" for server in servers)
        yield ours, theirs
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def config(issuers) -> RunbookConfig:
    approvals = CONFIG.approvals.model_copy(update={"ui_issuer": f"{issuers[0]}/oidc"})
    return CONFIG.model_copy(update={"approvals": approvals})


@pytest.fixture(scope="module")
def codec_url(config) -> Iterator[str]:
    # No encryption keys: the server only attests; the key is the sandbox's seed (a 127.0.0.1 issuer).
    server = CodecServer(0, None, set(), None, attester=ui_attester(config, environ={}))
    with serving(server):
        yield server_url(server)


def token(issuer: str, **claims: Any) -> str:
    answer = httpx.post(f"{issuer}/_sandbox/oidc/token", json=claims)
    answer.raise_for_status()
    return answer.json()["access_token"]


def encode(codec_url: str, *contents: dict[str, Any], bearer: str | None = None) -> httpx.Response:
    payloads = [
        {
            "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
            "data": base64.b64encode(json.dumps(content).encode()).decode(),
        }
        for content in contents
    ]
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return httpx.post(f"{codec_url}/default/encode", json={"payloads": payloads}, headers=headers)


def contents(answer: httpx.Response) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    return [json.loads(base64.b64decode(payload["data"])) for payload in answer.json()["payloads"]]


def check(content: dict[str, Any], config: RunbookConfig, *, person: str, decision: str = "approve") -> str:
    """The workflow's own check of the proof, as the approve handler runs it; how it was verified."""
    verified = verify(
        Proof.model_validate(content["proof"]),
        content,
        person=person,
        workflow_id="deploy-production-v1.2.0",
        decision=decision,
        people=config.people,
        policy=config.approvals.policy(),
        now=datetime.now(UTC),
    )
    return str(verified)


def test_a_decision_by_the_logged_in_person_gets_a_proof_the_workflow_accepts(issuers, config, codec_url):
    [attested] = contents(encode(codec_url, {"approver": "bob", "comment": "ok"}, bearer=token(issuers[0], sub="bob")))
    assert attested["proof"]["kind"] == "ui" and attested["proof"]["subject"] == "bob"
    assert check(attested, config, person="bob") == "bob, UI login"


def test_a_login_by_email_and_a_name_in_another_case_are_the_same_person(issuers, config, codec_url):
    bearer = token(issuers[0], sub="00u1a2b3c4", email="bob@skillancer.com")
    [attested] = contents(encode(codec_url, {"user": "Bob", "action": "rollback"}, bearer=bearer))
    assert attested["proof"]["subject"] == "bob@skillancer.com"
    assert check(attested, config, person="bob", decision="decide") == "bob, UI login"


def test_an_attested_payload_altered_afterwards_is_refused_by_the_workflow(issuers, config, codec_url):
    [attested] = contents(encode(codec_url, {"approver": "bob", "comment": "ok"}, bearer=token(issuers[0], sub="bob")))
    with pytest.raises(ProofRefused, match="attestation does not verify"):
        check({**attested, "comment": "ok, and ship the other service too"}, config, person="bob")


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("another issuer", "is issued by"),
        ("another audience", "is not for 'runbook-ui'"),
        ("expired", "has expired"),
        ("forged signature", "signature does not verify"),
        ("not a JWT", "not a JWT"),
    ],
)
def test_a_token_that_is_not_a_login_of_the_issuer_is_answered_401(issuers, codec_url, case, reason):
    ours, theirs = issuers
    bearers = {
        "another issuer": lambda: token(theirs, sub="bob"),
        "another audience": lambda: token(ours, sub="bob", aud="another-app"),
        "expired": lambda: token(ours, sub="bob", expires_in=-60),
        "forged signature": lambda: forged(token(ours, sub="bob")),
        "not a JWT": lambda: "s3cret",
    }
    answer = encode(codec_url, {"approver": "bob"}, bearer=bearers[case]())
    assert answer.status_code == 401
    assert reason in answer.text


def forged(genuine: str) -> str:
    """The same claims and key ID, signed by a key that is not the issuer's."""
    claims = jwt.decode(genuine, options={"verify_signature": False})
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, other, algorithm="RS256", headers={"kid": jwt.get_unverified_header(genuine)["kid"]})


def test_a_payload_naming_someone_else_than_the_login_refuses_the_whole_request(issuers, codec_url):
    bearer = token(issuers[0], sub="carol", email="carol@skillancer.com")
    answer = encode(codec_url, {"approver": "carol"}, {"approver": "bob"}, bearer=bearer)
    assert answer.status_code == 403
    assert answer.text == "payload's person 'bob' is not the UI login 'carol@skillancer.com'"


def test_a_payload_that_takes_no_proof_is_checked_against_the_login_and_left_as_sent(issuers, codec_url):
    update = {"user": "bob", "status": "Mitigating", "action": "rolling back"}
    assert contents(encode(codec_url, update, bearer=token(issuers[0], sub="bob"))) == [update]
    assert encode(codec_url, update, bearer=token(issuers[0], sub="carol")).status_code == 403


def test_without_a_token_payloads_pass_unchanged_both_ways(codec_url):
    approval = {"approver": "bob", "comment": "ok"}
    assert contents(encode(codec_url, approval)) == [approval]
    plain = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": "e30="}
    assert httpx.post(f"{codec_url}/decode", json={"payloads": [plain]}).json() == {"payloads": [plain]}


def test_a_codec_key_missing_or_not_the_configured_one_stops_the_server(config):
    elsewhere = config.approvals.model_copy(update={"ui_issuer": "https://login.skillancer.com"})
    with pytest.raises(ConfigError, match="^RUNBOOK_CODEC_KEY is not set"):
        ui_attester(config.model_copy(update={"approvals": elsewhere}), environ={})
    another_seed = base64.b64encode(bytes(32)).decode()
    with pytest.raises(ConfigError, match="public key is .* but \\[approvals\\] codec_key is BD2n1ZXn"):
        ui_attester(config, environ={"RUNBOOK_CODEC_KEY": another_seed})
