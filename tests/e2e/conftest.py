import pytest


@pytest.fixture(autouse=True)
def healthy_fleet(sandbox_stack):
    sandbox_stack.clear_faults()
    yield
    sandbox_stack.clear_faults()
