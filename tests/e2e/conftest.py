import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from monitor.sandbox.stack import SandboxStack  # noqa: E402


@pytest.fixture
async def stack():
    """The sandbox with the brand's account on X; Slack's rate limit off (pacing is tested elsewhere)."""
    s = SandboxStack(slack_rate_per_channel=None)
    await s.start()
    s.x.add_user("acme", "Acme", followers=250_000, verified=True)
    yield s
    await s.stop()
