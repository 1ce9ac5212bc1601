import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import FUZZ_TALLY, MEASURED, tiny_policy  # noqa: E402


def pytest_terminal_summary(terminalreporter):
    if FUZZ_TALLY:
        terminalreporter.section("fuzz cases (category: outcome x count)")
        for (category, outcome), count in sorted(FUZZ_TALLY.items()):
            terminalreporter.write_line(f"{category}: {outcome} x {count}")
    if MEASURED:
        terminalreporter.section("measured by the tests")
        for name, value in MEASURED.items():
            terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture
def policy():
    return tiny_policy()
