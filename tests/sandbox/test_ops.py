"""The operations API fake: rate limiting and the maintenance page, recorded under "ops"."""

from werkzeug.test import Client

from sandbox.fakes import Recorder
from sandbox.ops import OpsFake
from sandbox.web import WebApp


def test_rate_limit_and_maintenance_are_answered_and_recorded():
    recorder = Recorder()
    client = Client(WebApp(OpsFake(["staging", "production"]).rules(recorder)))
    limited = client.post(
        "/production/_ops/rate-limit", json={"services": ["market-svc"], "requests_per_second": 50, "incident": "INC-1"}
    )
    maintenance = client.post("/production/_ops/maintenance", json={"enabled": True, "incident": "INC-1"})
    assert limited.status_code == 200 and limited.json["rate_limit"] == {
        "services": ["market-svc"],
        "requests_per_second": 50,
    }
    assert maintenance.status_code == 200 and maintenance.json == {"environment": "production", "maintenance": True}
    assert [(call["path"], call["body"]["incident"]) for call in recorder.calls("ops")] == [
        ("/production/_ops/rate-limit", "INC-1"),
        ("/production/_ops/maintenance", "INC-1"),
    ]


def test_an_unknown_environment_or_a_body_that_is_not_json_is_refused():
    client = Client(WebApp(OpsFake(["staging", "production"]).rules(Recorder())))
    unknown = client.post("/prod/_ops/maintenance", json={"enabled": True})
    assert (
        unknown.status_code == 404 and "unknown environment 'prod'; known: staging, production" in unknown.json["error"]
    )
    assert client.post("/staging/_ops/rate-limit", data="not json", content_type="application/json").status_code == 400
