import pytest
from pydantic import ValidationError

from runbook.config import ThresholdsConfig
from runbook.decision import Action, Assessment, Decision, ServiceSnapshot, decide

SERVICES = ["api-gateway", "auth-svc", "market-svc", "payment-svc", "notification-svc"]
DEFAULTS = ThresholdsConfig()


def snap(service: str, **figures) -> ServiceSnapshot:
    """A service comfortably inside every default threshold, unless figures say otherwise."""
    baseline = dict(
        requests=1000,
        errors_5xx=0,
        avg_response_ms=120,
        database_errors=False,
        cpu_percent=40,
        memory_percent=50,
    )
    return ServiceSnapshot(service=service, **{**baseline, **figures})


def actions(assessment: Assessment) -> dict[str, Action]:
    return {d.service: d.action for d in assessment.decisions}


def decision_for(assessment: Assessment, service: str) -> Decision:
    return next(d for d in assessment.decisions if d.service == service)


MATRIX = [
    pytest.param(
        [snap("api-gateway", errors_5xx=250), snap("auth-svc", errors_5xx=30)],
        {"api-gateway": Action.ROLLBACK_NOW, "auth-svc": Action.ROLLBACK_NOW},
        "api-gateway",
        "5xx errors > 1%",
        id="5xx errors > 1%",
    ),
    pytest.param(
        [snap("api-gateway", avg_response_ms=6200), snap("auth-svc")],
        {"api-gateway": Action.PROPOSE_ROLLBACK, "auth-svc": Action.NONE},
        "api-gateway",
        "Response time > 5s",
        id="response time > 5s",
    ),
    pytest.param(
        [snap(name, errors_5xx=50 if name == "payment-svc" else 0) for name in SERVICES],
        {name: Action.NONE for name in SERVICES} | {"payment-svc": Action.ROLLBACK_SERVICE},
        "payment-svc",
        "Single service failing",
        id="single service failing",
    ),
    pytest.param(
        [snap("payment-svc", database_errors=True), snap("api-gateway", errors_5xx=30)],
        {"payment-svc": Action.DO_NOT_ROLLBACK, "api-gateway": Action.DO_NOT_ROLLBACK},
        "payment-svc",
        "Database errors",
        id="database errors",
    ),
    pytest.param(
        [snap("market-svc", cpu_percent=97), snap("auth-svc")],
        {"market-svc": Action.SCALE_UP, "auth-svc": Action.NONE},
        "market-svc",
        "Memory/CPU spike",
        id="cpu spike",
    ),
    pytest.param(
        [snap("market-svc", memory_percent=93), snap("auth-svc")],
        {"market-svc": Action.SCALE_UP, "auth-svc": Action.NONE},
        "market-svc",
        "Memory/CPU spike",
        id="memory spike",
    ),
]


@pytest.mark.parametrize(("snapshots", "expected", "service", "rule"), MATRIX)
def test_each_matrix_row_gives_its_action(snapshots, expected, service, rule):
    assessment = decide(snapshots, DEFAULTS)

    assert actions(assessment) == expected
    assert decision_for(assessment, service).rule == rule


def test_evidence_shows_the_figures_against_the_threshold():
    snapshots = [snap("api-gateway", errors_5xx=250), snap("auth-svc", errors_5xx=30)]

    assessment = decide(snapshots, DEFAULTS)

    assert decision_for(assessment, "api-gateway").evidence == "5xx 25.0% of 1000 requests > 1.0%"


def test_database_errors_veto_every_rollback_but_not_scaling_up():
    assessment = decide(
        [
            snap("payment-svc", database_errors=True, errors_5xx=80),
            snap("api-gateway", errors_5xx=300),
            snap("auth-svc", healthy=False),
            snap("market-svc", avg_response_ms=7000),
            snap("notification-svc", cpu_percent=95),
        ],
        DEFAULTS,
    )

    assert actions(assessment) == {
        "payment-svc": Action.DO_NOT_ROLLBACK,
        "api-gateway": Action.DO_NOT_ROLLBACK,
        "auth-svc": Action.DO_NOT_ROLLBACK,
        "market-svc": Action.DO_NOT_ROLLBACK,
        "notification-svc": Action.SCALE_UP,
    }
    assert assessment.rollback_services == []
    assert not assessment.needs_human
    assert assessment.scale_up_services == ["notification-svc"]
    vetoed = decision_for(assessment, "api-gateway")
    assert vetoed.rule == "Database errors"
    assert "30.0%" in vetoed.evidence and "database errors on payment-svc" in vetoed.evidence
    alert = decision_for(assessment, "payment-svc")
    assert "database errors reported by payment-svc" in alert.evidence


def test_veto_names_every_service_with_database_errors():
    assessment = decide(
        [
            snap("payment-svc", database_errors=True),
            snap("market-svc", database_errors=True),
            snap("api-gateway", errors_5xx=300),
        ],
        DEFAULTS,
    )

    evidence = decision_for(assessment, "api-gateway").evidence
    assert "database errors on payment-svc, market-svc" in evidence


def test_database_errors_on_a_healthy_looking_release_still_alert():
    assessment = decide([snap("payment-svc", database_errors=True), snap("auth-svc")], DEFAULTS)

    assert actions(assessment) == {"payment-svc": Action.DO_NOT_ROLLBACK, "auth-svc": Action.NONE}
    assert assessment.vetoed


@pytest.mark.parametrize(
    "figures",
    [
        pytest.param({"errors_5xx": 10}, id="5xx exactly 1%"),
        pytest.param({"avg_response_ms": 5000}, id="response exactly 5000 ms"),
        pytest.param({"cpu_percent": 85}, id="cpu exactly 85%"),
        pytest.param({"memory_percent": 85}, id="memory exactly 85%"),
    ],
)
def test_a_figure_equal_to_its_threshold_is_within_it(figures):
    assessment = decide([snap("api-gateway", **figures), snap("auth-svc")], DEFAULTS)

    assert actions(assessment) == {"api-gateway": Action.NONE, "auth-svc": Action.NONE}


@pytest.mark.parametrize(
    ("figures", "action", "evidence"),
    [
        ({"errors_5xx": 10.4}, Action.ROLLBACK_NOW, "5xx 1.04% of 1000 requests > 1.00%"),
        (
            {"avg_response_ms": 5000.4},
            Action.PROPOSE_ROLLBACK,
            "avg response 5000.4 ms > 5000.0 ms",
        ),
        ({"cpu_percent": 85.01}, Action.SCALE_UP, "CPU 85.01% > 85.00%"),
    ],
)
def test_just_over_a_threshold_acts_and_the_evidence_tells_them_apart(figures, action, evidence):
    assessment = decide([snap("api-gateway", **figures)], DEFAULTS)

    assert decision_for(assessment, "api-gateway").action == action
    assert decision_for(assessment, "api-gateway").evidence == evidence


def test_zero_requests_is_no_error_rate():
    quiet = snap("notification-svc", requests=0, errors_5xx=0)

    assert quiet.error_rate_percent == 0
    assert actions(decide([quiet], DEFAULTS)) == {"notification-svc": Action.NONE}


def test_zero_requests_with_a_failing_health_endpoint_still_rolls_back():
    assessment = decide([snap("notification-svc", requests=0, healthy=False)], DEFAULTS)

    assert decision_for(assessment, "notification-svc").action == Action.ROLLBACK_NOW
    assert decision_for(assessment, "notification-svc").rule == "Service unhealthy"


def test_thresholds_come_from_the_configuration():
    lenient = ThresholdsConfig(error_rate_percent=5, response_time_ms=8000, cpu_percent=95)
    snapshots = [
        snap("api-gateway", errors_5xx=30),
        snap("auth-svc", errors_5xx=60),
        snap("market-svc", errors_5xx=70, avg_response_ms=7000, cpu_percent=90),
    ]

    assessment = decide(snapshots, lenient)

    assert actions(assessment) == {
        "api-gateway": Action.NONE,
        "auth-svc": Action.ROLLBACK_NOW,
        "market-svc": Action.ROLLBACK_NOW,
    }
    assert decision_for(assessment, "auth-svc").evidence == "5xx 6.0% of 1000 requests > 5.0%"
    assert actions(decide([snap("market-svc", avg_response_ms=7000, cpu_percent=90)], lenient)) == {
        "market-svc": Action.NONE
    }


def test_several_unhealthy_services_roll_back_now_naming_the_health_check():
    snapshots = [snap("auth-svc", healthy=False), snap("market-svc", healthy=False)]

    assessment = decide(snapshots, DEFAULTS)

    assert actions(assessment) == {
        "auth-svc": Action.ROLLBACK_NOW,
        "market-svc": Action.ROLLBACK_NOW,
    }
    assert decision_for(assessment, "auth-svc").rule == "Service unhealthy"
    assert decision_for(assessment, "auth-svc").evidence == "health endpoint not answering 200"


def test_one_unhealthy_service_among_several_is_rolled_back_alone():
    assessment = decide([snap("auth-svc", healthy=False), snap("market-svc")], DEFAULTS)

    assert decision_for(assessment, "auth-svc").action == Action.ROLLBACK_SERVICE
    assert assessment.rollback_services == ["auth-svc"]


def test_the_only_service_deployed_failing_rolls_back_now():
    assessment = decide([snap("payment-svc", errors_5xx=40)], DEFAULTS)

    assert decision_for(assessment, "payment-svc").action == Action.ROLLBACK_NOW
    assert decision_for(assessment, "payment-svc").rule == "5xx errors > 1%"


def test_a_slow_neighbour_does_not_stop_a_single_service_rollback():
    snapshots = [
        snap("payment-svc", errors_5xx=40),
        snap("market-svc", avg_response_ms=9000),
        snap("auth-svc"),
    ]

    assessment = decide(snapshots, DEFAULTS)

    assert actions(assessment) == {
        "payment-svc": Action.ROLLBACK_SERVICE,
        "market-svc": Action.PROPOSE_ROLLBACK,
        "auth-svc": Action.NONE,
    }


def test_slow_and_spiking_scales_up_first_and_says_both():
    assessment = decide([snap("market-svc", avg_response_ms=6500, memory_percent=91)], DEFAULTS)

    decision = decision_for(assessment, "market-svc")
    assert decision.action == Action.SCALE_UP
    assert decision.evidence == "memory 91.0% > 85.0%; avg response 6500 ms > 5000 ms"
    assert not assessment.needs_human


def test_failing_beats_spiking():
    assessment = decide([snap("market-svc", errors_5xx=500, cpu_percent=99)], DEFAULTS)

    assert decision_for(assessment, "market-svc").action == Action.ROLLBACK_NOW


def test_no_symptom_summarises_the_figures():
    assessment = decide([snap("auth-svc", errors_5xx=2, avg_response_ms=180)], DEFAULTS)

    decision = decision_for(assessment, "auth-svc")
    assert decision.action == Action.NONE
    assert decision.evidence == (
        "5xx 0.2% of 1000 requests, avg response 180 ms, CPU 40.0%, memory 50.0%, health endpoint answering 200"
    )


def test_assessment_helpers():
    assessment = decide(
        [
            snap("api-gateway", errors_5xx=300),
            snap("auth-svc", errors_5xx=200),
            snap("market-svc", avg_response_ms=6000),
            snap("payment-svc", cpu_percent=90),
            snap("notification-svc"),
        ],
        DEFAULTS,
    )

    assert assessment.rollback_services == ["api-gateway", "auth-svc"]
    assert assessment.scale_up_services == ["payment-svc"]
    assert assessment.needs_human
    assert not assessment.vetoed
    assert assessment.worst == Action.ROLLBACK_NOW


FINE = snap("auth-svc")
SPIKING = snap("auth-svc", cpu_percent=90)
FAILING = snap("auth-svc", errors_5xx=90)
SLOW = snap("market-svc", avg_response_ms=6000)
ALSO_FAILING = snap("market-svc", errors_5xx=90)
DATABASE_FAILING = snap("market-svc", database_errors=True)


@pytest.mark.parametrize(
    ("snapshots", "worst"),
    [
        ([], Action.NONE),
        ([FINE], Action.NONE),
        ([SPIKING], Action.SCALE_UP),
        ([SPIKING, SLOW], Action.PROPOSE_ROLLBACK),
        ([FAILING, SLOW], Action.ROLLBACK_SERVICE),
        ([FAILING, ALSO_FAILING], Action.ROLLBACK_NOW),
        ([FAILING, DATABASE_FAILING], Action.DO_NOT_ROLLBACK),
    ],
)
def test_worst_is_the_most_severe_action(snapshots, worst):
    assert decide(snapshots, DEFAULTS).worst == worst


def test_an_assessment_survives_a_json_round_trip():
    snapshots = [snap("payment-svc", database_errors=True), snap("api-gateway", errors_5xx=30)]

    assessment = decide(snapshots, DEFAULTS)

    assert Assessment.model_validate_json(assessment.model_dump_json()) == assessment


def test_negative_counts_are_rejected():
    with pytest.raises(ValidationError):
        snap("api-gateway", requests=-1)


NO_REQUESTS = "RequestCount in Skillancer {Environment=production, Service=market-svc} over 1m: no datapoints"


def test_no_data_is_its_own_row_naming_the_figure_never_none():
    assessment = decide([snap("market-svc", requests=0, no_data={"requests": NO_REQUESTS})], DEFAULTS)

    assert decision_for(assessment, "market-svc") == Decision(
        service="market-svc", action=Action.NO_DATA, rule="No data", evidence=NO_REQUESTS
    )
    assert assessment.needs_human
    assert assessment.no_data_services == ["market-svc"]
    assert assessment.rollback_services == [] and assessment.scale_up_services == []


def test_no_data_beside_a_real_5xx_rolls_back_only_the_failing_service():
    assessment = decide(
        [snap("market-svc", requests=0, no_data={"requests": NO_REQUESTS}), snap("payment-svc", errors_5xx=300)],
        DEFAULTS,
    )

    assert actions(assessment) == {"market-svc": Action.NO_DATA, "payment-svc": Action.ROLLBACK_SERVICE}


def test_a_failing_health_endpoint_still_rolls_back_a_service_without_figures():
    assessment = decide([snap("market-svc", requests=0, no_data={"requests": NO_REQUESTS}, healthy=False)], DEFAULTS)

    assert decision_for(assessment, "market-svc").action == Action.ROLLBACK_NOW


def test_no_data_asks_a_human_before_scaling_up_and_names_what_was_seen():
    missing = {"avg_response_ms": "ResponseTime in Skillancer {Service=auth-svc} over 1m: no datapoints"}

    decision = decision_for(decide([snap("auth-svc", cpu_percent=97, no_data=missing)], DEFAULTS), "auth-svc")

    assert decision.action == Action.NO_DATA
    assert decision.evidence == f"{missing['avg_response_ms']}; CPU 97.0% > 85.0%"


@pytest.mark.parametrize(
    ("snapshots", "worst"),
    [
        ([snap("payment-svc", no_data={"requests": NO_REQUESTS}), SPIKING], Action.NO_DATA),
        ([snap("payment-svc", no_data={"requests": NO_REQUESTS}), SLOW], Action.PROPOSE_ROLLBACK),
    ],
)
def test_no_data_ranks_above_scaling_up_below_a_rollback_proposal(snapshots, worst):
    assert decide(snapshots, DEFAULTS).worst == worst
