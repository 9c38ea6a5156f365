from runbook.config import HealthConfig, load_config
from runbook.health import CheckSpec, Probe, build_report, judge, plan_checks, plan_service_checks, render_report
from tests.support import SANDBOX_CONFIG

CONFIG = load_config(SANDBOX_CONFIG)


def test_basic_checks_are_liveness_readiness_and_api_status_of_the_environment_and_each_service():
    names = [spec.name for spec in plan_checks(CONFIG, "staging", full=False)]
    assert names[:3] == ["liveness", "readiness", "api-status"]
    assert "payment-svc readiness" in names and "dashboard" not in names
    assert all(spec.budget_ms is None for spec in plan_checks(CONFIG, "staging", full=False))


def test_full_adds_the_verification_script_and_latency_budgets():
    specs = {spec.name: spec for spec in plan_checks(CONFIG, "production", full=True)}
    assert {"dashboard", "circuits", "auth-status", "homepage", "market-svc api"} <= set(specs)
    assert specs["homepage"].budget_ms == 3000 and specs["auth-status"].budget_ms == 500
    assert specs["circuits"].url == "http://127.0.0.1:8080/production/health/circuits"


def test_the_paths_checked_are_configured():
    config = CONFIG.model_copy(
        update={
            "health": HealthConfig(
                liveness="/livez", homepage="/home", service_readiness="/internal/{service}/ready?deep=1"
            )
        }
    )
    urls = {spec.name: spec.url for spec in plan_checks(config, "staging", full=True)}
    assert urls["liveness"] == "http://127.0.0.1:8080/staging/livez"
    assert urls["homepage"] == "http://127.0.0.1:8080/staging/home"
    assert urls["auth-svc readiness"] == "http://127.0.0.1:8080/staging/internal/auth-svc/ready?deep=1"
    assert urls["readiness"] == "http://127.0.0.1:8080/staging/health/ready"
    service = {spec.name: spec.url for spec in plan_service_checks(config, "staging", "auth-svc")}
    assert service == {
        "auth-svc liveness": "http://127.0.0.1:8080/staging/svc/auth-svc/health/live",
        "auth-svc readiness": "http://127.0.0.1:8080/staging/internal/auth-svc/ready?deep=1",
        "auth-svc api": "http://127.0.0.1:8080/staging/svc/auth-svc/status",
    }


def probe(name="api-status", status=200, latency=20.0, body=None, error="", budget=500.0) -> Probe:
    return Probe(
        spec=CheckSpec(name=name, url="http://x/" + name, budget_ms=budget),
        http_status=status,
        latency_ms=latency,
        body=body,
        error=error,
    )


def test_verdicts_name_the_reason():
    assert judge(probe(body={"status": "ok"})).verdict == "pass"
    assert judge(probe(status=503, body={"status": "not_ready"})).reason == "HTTP 503 (not_ready)"
    timed_out = judge(Probe(spec=CheckSpec(name="liveness", url="u"), error="timeout after 5 s"))
    assert (timed_out.verdict, timed_out.reason, timed_out.too_slow) == ("fail", "timeout after 5 s", True)
    slow = judge(probe(latency=812.4))
    assert (slow.verdict, slow.reason, slow.too_slow) == ("fail", "slow: 812 ms > 500 ms budget", True)
    assert judge(probe(latency=500.0)).verdict == "pass"
    assert judge(probe(latency=812.4, budget=None)).verdict == "pass"


def test_open_circuits_and_an_unhealthy_dashboard_fail():
    circuits = judge(probe("circuits", body={"circuits": {"a": {"state": "closed"}, "market-svc": {"state": "open"}}}))
    assert (circuits.verdict, circuits.reason) == ("fail", "open circuits: market-svc")
    dashboard = judge(probe("dashboard", body={"overall": "unhealthy", "summary": {}}))
    assert dashboard.reason == "dashboard overall unhealthy"
    fine = judge(
        probe(
            "dashboard",
            body={
                "overall": "healthy",
                "summary": {"total": 5},
                "coreServices": {"b": {}, "a": {}},
                "moatServices": {"redis": {}},
            },
        )
    )
    assert fine.verdict == "pass" and "core: a, b; moat: redis" in fine.reason


def test_integrations_come_from_readiness_and_the_dashboard():
    probes = [
        probe("readiness", body={"checks": {"database": {"status": "down"}, "redis": {"status": "up"}}}),
        probe(
            "dashboard",
            body={
                "overall": "healthy",
                "moatServices": {"database": {"status": "healthy"}, "search": {"status": "healthy"}},
            },
        ),
    ]
    report = build_report("staging", True, probes, 12.0, ["database", "redis"])
    assert report.integrations == {"database": "down", "redis": "up", "search": "healthy"}


def test_an_integration_readiness_does_not_report_is_not_reported_whatever_the_dashboard_says():
    probes = [
        probe("readiness", body={"status": "ready", "checks": {"redis": {"status": "up"}}}),
        probe("dashboard", body={"overall": "healthy", "moatServices": {"database": {"status": "healthy"}}}),
    ]
    report = build_report("staging", True, probes, 12.0, ["database", "redis", "externalApis"])
    assert report.integrations == {"database": "not reported", "redis": "up", "externalApis": "not reported"}
    assert build_report(
        "staging", False, [probe("readiness", body={"status": "ready"})], 1.0, ["database"]
    ).integrations == {"database": "not reported"}


def test_the_table_ends_with_a_verdict_naming_each_failure():
    report = build_report(
        "production", False, [probe("liveness"), probe("readiness", status=503, body={"status": "not_ready"})], 40.0, []
    )
    text = render_report(report)
    assert "readiness  503" in text
    assert (
        text.splitlines()[-1]
        == "production: UNHEALTHY: 1 failing: readiness (HTTP 503 (not_ready)) (2 checks in 40 ms)"
    )
    assert render_report(build_report("staging", False, [probe()], 3.0, [])).endswith(
        "staging: HEALTHY (1 checks in 3 ms)"
    )
