import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import tiny_policy  # noqa: E402


@pytest.fixture
def policy():
    return tiny_policy()
