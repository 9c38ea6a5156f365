"""A click on a button in the Slack fake reaches the gateway as Slack's own would: the block_actions
payload, form-encoded, signed with the signing secret; the response URL it carries replaces or
deletes the message or shows the clicker alone, at most five times in thirty minutes; and
`runbook sandbox slack click` reports the gateway's answer.

A tiny HTTP server stands in for the gateway: it checks the signature with its own HMAC, answers,
and then posts what it is told to the response URL, as the gateway does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from runbook.buttons import approval_buttons
from runbook.config import GatewayConfig, load_config
from runbook.integrations import sandbox_secret
from sandbox import slack_interactivity
from sandbox.fakes import Fakes
from sandbox.slack_interactivity import RESPONSE_LIFETIME
from sandbox.web import WebApp, WebServer
from starter.cli import dispatch
from tests.support import SANDBOX_CONFIG, free_port

WORKFLOW = "deploy-production-v1.2.0"
AUTH = {"Authorization": "Bearer xoxb-sandbox"}
BOB = load_config().people.root["bob"].slack_id


@dataclass
class Gateway:
    """Stands in for the gateway: records each request, answers `status`, then posts `respond`
    (if any) to the click's response URL."""

    status: int = 200
    respond: dict[str, Any] | None = None
    delay: float = 0.0
    requests: list[tuple[dict[str, str], str]] = field(default_factory=list)
    answers: list[httpx.Response] = field(default_factory=list)

    def serve(self) -> ThreadingHTTPServer:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                gateway.requests.append((dict(self.headers), body))
                time.sleep(gateway.delay)
                self.send_response(gateway.status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if gateway.respond is not None and self.path == "/slack/interactivity":
                    payload = json.loads(parse_qs(body)["payload"][0])
                    gateway.answers.append(httpx.post(payload["response_url"], json=gateway.respond))

            def log_message(self, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@dataclass
class Stack:
    fakes: Fakes
    url: str
    gateway: Gateway
    gateway_server: ThreadingHTTPServer
    config_file: Path

    def gateway_down(self) -> str:
        """The gateway stops listening; its address, now refusing connections."""
        self.gateway_server.shutdown()
        self.gateway_server.server_close()
        host, port = self.gateway_server.server_address[:2]
        return f"http://{host!s}:{port}"

    def post(self, workflow_id: str = WORKFLOW) -> dict[str, Any]:
        buttons = [
            {"type": "button", "text": {"type": "plain_text", "text": b.text}, "action_id": b.action_id}
            | {"value": b.value}
            | ({"style": b.style} if b.style else {})
            for b in approval_buttons(workflow_id)
        ]
        blocks = [
            {"type": "section", "text": {"type": "mrkdwn", "text": "Approve?"}},
            {"type": "actions", "block_id": "runbook-decision", "elements": buttons},
        ]
        body = {"channel": "#deployments", "text": "Approve?", "blocks": blocks}
        answer = httpx.post(f"{self.url}/slack/api/chat.postMessage", json=body, headers=AUTH).json()
        assert answer["ok"], answer
        return answer

    def click(self, target: str = WORKFLOW, action: str = "approve", person: str = "bob") -> httpx.Response:
        return httpx.post(f"{self.url}/_sandbox/slack/click", json={"target": target, "action": action, "as": person})

    def history(self, channel: str) -> list[dict[str, Any]]:
        return httpx.get(
            f"{self.url}/slack/api/conversations.history", params={"channel": channel}, headers=AUTH
        ).json()["messages"]

    def responses(self, **filters: str) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/_sandbox/slack/responses", params=filters).json()["responses"]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    gateway = Gateway()
    server = gateway.serve()
    config = load_config()
    config = config.model_copy(update={"gateway": GatewayConfig(port=server.server_address[1])})
    fakes = Fakes(config)
    web = WebServer(WebApp(fakes.rules()), 0)
    web.start()
    config_file = tmp_path / "runbook.toml"
    config_file.write_text(
        SANDBOX_CONFIG.read_text()
        .replace("fleet_port = 8080", f"fleet_port = {web.port}")
        .replace("port = 8090", f"port = {server.server_address[1]}")
    )
    try:
        yield Stack(fakes, f"http://127.0.0.1:{web.port}", gateway, server, config_file)
    finally:
        web.stop()
        server.shutdown()
        server.server_close()


def payload_of(body: str) -> dict[str, Any]:
    form = parse_qs(body)
    assert list(form) == ["payload"]
    return json.loads(form["payload"][0])


# The request Slack sends ------------------------------------------------------------------------


def test_a_click_is_posted_to_the_gateway_signed_with_the_signing_secret(stack: Stack) -> None:
    stack.post()
    clicked = stack.click()
    assert clicked.status_code == 200 and clicked.json()["status"] == 200

    [(headers, body)] = stack.gateway.requests
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    timestamp = headers["X-Slack-Request-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    # Computed here, independently of the fake: v0=hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}")).
    secret = sandbox_secret("SLACK_SIGNING_SECRET").encode()
    expected = hmac.new(secret, f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    assert headers["X-Slack-Signature"] == f"v0={expected}"


def test_the_payload_is_slacks_block_actions_for_the_person_and_the_button(stack: Stack) -> None:
    posted = stack.post()
    answer = stack.click(person="Bob").json()
    payload = payload_of(stack.gateway.requests[0][1])

    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == BOB and payload["user"]["username"] == "bob" and payload["user"]["team_id"]
    assert payload["api_app_id"] and payload["token"] and payload["trigger_id"] and payload["team"]["id"]
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": posted["channel"],
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": posted["channel"], "name": "deployments"}
    assert payload["message"]["ts"] == posted["ts"]
    assert [block["type"] for block in payload["message"]["blocks"]] == ["section", "actions"]
    [action] = payload["actions"]
    assert {key: action[key] for key in ("action_id", "block_id", "value", "style", "type")} == {
        "action_id": "approve",
        "block_id": "runbook-decision",
        "value": WORKFLOW,
        "style": "primary",
        "type": "button",
    }
    assert action["text"] == {"type": "plain_text", "text": "Approve"} and float(action["action_ts"]) > 0
    assert payload["response_url"] == answer["response_url"]
    assert answer["response_url"].startswith(f"{stack.url}/slack/respond/")


def test_a_click_finds_the_message_by_ts_or_the_newest_with_that_workflows_button(stack: Stack) -> None:
    older, newer = stack.post(), stack.post()
    stack.post("deploy-staging-v1.2.0")
    assert stack.click(WORKFLOW).json()["message_ts"] == newer["ts"]
    assert stack.click(older["ts"], "reject").json()["message_ts"] == older["ts"]

    missing = stack.click("deploy-nothing")
    assert missing.status_code == 404
    assert "no message in the sandbox's Slack has a button 'approve' for 'deploy-nothing'" in missing.json()["error"]
    assert f"approve for {WORKFLOW}" in missing.json()["error"]
    assert stack.click(WORKFLOW, "rollback").status_code == 404
    assert len(stack.gateway.requests) == 2


def test_a_click_as_someone_slack_does_not_know_is_refused_before_the_gateway_hears_of_it(stack: Stack) -> None:
    stack.post()
    for nobody in ("mallory", "bob "):
        refused = stack.click(person=nobody)
        assert refused.status_code == 400
        assert "is nobody in the sandbox's Slack" in refused.json()["error"] and "alice" in refused.json()["error"]
    assert stack.gateway.requests == []


def test_each_click_is_on_the_record_with_what_was_sent(stack: Stack) -> None:
    stack.post()
    stack.click()
    [click] = [call for call in stack.fakes.recorder.calls("slack") if call["path"] == "/_sandbox/slack/click"]
    assert click["body"] == {"target": WORKFLOW, "action": "approve", "as": "bob"}
    assert click["interactivity"]["status"] == 200
    assert click["interactivity"]["payload"]["actions"][0]["value"] == WORKFLOW


def test_a_gateway_that_is_not_there_is_said_so(stack: Stack) -> None:
    stack.post()
    gone = stack.gateway_down()
    unreachable = stack.click()
    assert unreachable.status_code == 502
    assert f"cannot reach the gateway at {gone}/slack/interactivity" in unreachable.json()["error"]


def test_a_gateway_slower_than_slacks_3_s_is_an_error_for_the_clicker(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Slack's 3 s, scaled down for the test.
    monkeypatch.setattr(slack_interactivity, "ACK_TIMEOUT", 0.2)
    stack.post()
    stack.gateway.delay = 0.5
    late = stack.click()
    assert late.status_code == 504 and "did not answer within" in late.json()["error"]


# The response URL -------------------------------------------------------------------------------


def respond(url: str, body: object) -> httpx.Response:
    return httpx.post(url, json=body)


def test_replace_original_replaces_the_clicked_message_text_and_blocks(stack: Stack) -> None:
    posted = stack.post()
    url = stack.click().json()["response_url"]
    done = {"replace_original": True, "text": "✅ approved by bob", "blocks": [{"type": "divider"}]}
    assert respond(url, done).json() == {"ok": True}
    [message] = stack.history(posted["channel"])
    assert (message["text"], message["blocks"][0]["type"]) == ("✅ approved by bob", "divider")
    assert stack.responses(response_url=url)[0]["effect"] == "replaced"
    # The buttons are gone: no click finds them any more.
    assert stack.click().status_code == 404


def test_delete_original_deletes_it(stack: Stack) -> None:
    posted = stack.post()
    url = stack.click().json()["response_url"]
    assert respond(url, {"delete_original": True}).json() == {"ok": True}
    assert stack.history(posted["channel"]) == []


def test_an_ephemeral_response_is_the_clickers_alone_and_leaves_the_channel_as_it_was(stack: Stack) -> None:
    posted = stack.post()
    url = stack.click(person="bob").json()["response_url"]
    assert respond(url, {"response_type": "ephemeral", "text": "bob started this deployment"}).json()["ok"]
    assert respond(url, {"text": "still not you"}).json()["ok"]
    assert [message["ts"] for message in stack.history(posted["channel"])] == [posted["ts"]]
    shown = stack.responses(user="bob", effect="ephemeral")
    assert [response["text"] for response in shown] == ["bob started this deployment", "still not you"]
    assert stack.responses(user="alice") == []


def test_an_in_channel_response_is_a_new_message_for_everyone(stack: Stack) -> None:
    posted = stack.post()
    url = stack.click().json()["response_url"]
    assert respond(url, {"response_type": "in_channel", "text": "bob approved"}).json()["ok"]
    assert [message["text"] for message in stack.history(posted["channel"])] == ["bob approved", "Approve?"]


def test_a_response_is_held_to_the_rules_of_any_message(stack: Stack) -> None:
    stack.post()
    url = stack.click().json()["response_url"]
    assert respond(url, {"replace_original": True}).json() == {"ok": False, "error": "no_text"}
    bad = {
        "replace_original": True,
        "text": "x",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": ""}}],
    }
    assert respond(url, bad).json()["error"] == "invalid_blocks"
    assert httpx.post(url, content="not json").json() == {"ok": False, "error": "invalid_payload"}


def test_a_response_url_takes_five_messages(stack: Stack) -> None:
    stack.post()
    url = stack.click().json()["response_url"]
    for _ in range(5):
        assert respond(url, {"text": "one more"}).json()["ok"]
    sixth = respond(url, {"text": "one too many"})
    assert (sixth.status_code, sixth.json()["ok"]) == (404, False)
    assert len(stack.responses(response_url=url)) == 5


def test_a_response_url_lasts_thirty_minutes(stack: Stack) -> None:
    stack.post()
    clicks = stack.fakes.slack_clicks
    started = time.monotonic()
    clicks.clock = lambda: started
    url = stack.click().json()["response_url"]
    clicks.clock = lambda: started + RESPONSE_LIFETIME
    assert respond(url, {"text": "just in time"}).json()["ok"]
    clicks.clock = lambda: started + RESPONSE_LIFETIME + 1
    late = respond(url, {"text": "too late"})
    assert (late.status_code, late.json()["ok"]) == (404, False)
    assert respond(f"{stack.url}/slack/respond/made-up", {"text": "x"}).status_code == 404


# The CLI ----------------------------------------------------------------------------------------


@pytest.fixture
def cli(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    monkeypatch.setenv("RUNBOOK_CONFIG", str(stack.config_file))
    monkeypatch.delenv("RUNBOOK_USER", raising=False)
    return lambda *argv: dispatch(["sandbox", "slack", "click", *argv])


def test_the_cli_says_who_decided_when_the_gateway_replaces_the_message(
    stack: Stack, cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    posted = stack.post()
    stack.gateway.respond = {"replace_original": True, "text": "✅ Approved by bob"}
    assert cli(WORKFLOW, "approve", "--as", "Bob") == 0
    assert (
        capsys.readouterr().out.strip()
        == f"{WORKFLOW}: approve clicked by bob ({BOB}); the message now says: ✅ Approved by bob"
    )

    stack.post()
    assert cli(WORKFLOW, "reject", "--as", "bob", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["outcome"] == "taken" and report["by"] == "bob" and report["slack_user"] == BOB
    assert report["message_ts"] != posted["ts"] and report["response"]["effect"] == "replaced"


def test_the_cli_shows_a_refusal_shown_to_the_clicker_and_exits_1(
    stack: Stack, cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    stack.post()
    stack.gateway.respond = {"response_type": "ephemeral", "text": "You started this deployment: someone else approves"}
    assert cli(WORKFLOW, "approve", "--as", "alice") == 1
    assert "shown to alice alone: You started this deployment" in capsys.readouterr().out

    stack.gateway.respond, stack.gateway.status = None, 401
    assert cli(WORKFLOW, "approve", "--as", "alice") == 1
    assert "the gateway refused the click: HTTP 401" in capsys.readouterr().err


def test_the_cli_refuses_bad_input_and_says_what_is_missing(
    stack: Stack, cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    stack.post()
    assert cli(WORKFLOW, "merge", "--as", "bob") == 2
    assert "unknown button 'merge'; the runbook's buttons are approve, reject, rollback, continue, acknowledge" in (
        capsys.readouterr().err
    )
    assert cli(WORKFLOW, "approve", "--as", "mallory") == 2
    assert "unknown person 'mallory'" in capsys.readouterr().err
    assert cli("deploy-nothing", "approve", "--as", "bob") == 1
    assert "has a button 'approve' for 'deploy-nothing'" in capsys.readouterr().err
    assert stack.gateway.requests == []


def test_the_cli_exits_3_when_the_sandbox_or_the_gateway_is_down(
    stack: Stack, cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    stack.post()
    stack.gateway_down()
    assert cli(WORKFLOW, "approve", "--as", "bob") == 3
    assert "cannot reach the gateway" in capsys.readouterr().err
    stack.config_file.write_text(stack.config_file.read_text().replace(stack.url.rsplit(":", 1)[1], str(free_port())))
    assert cli(WORKFLOW, "approve", "--as", "bob") == 3
    assert "cannot reach the sandbox" in capsys.readouterr().err
