import pytest


@pytest.fixture(autouse=True)
def every_e2e_test_starts_healthy(healthy_fleet):
    yield
