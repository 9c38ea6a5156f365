import pytest


@pytest.fixture(autouse=True)
def every_fault_test_starts_healthy(healthy_fleet):
    yield
