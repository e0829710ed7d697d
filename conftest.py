"""Test-wide settings: one torch thread.

The tests use tiny tensors, for which torch's intra-op threads cost far more than they
gain, especially on a loaded 2-core machine.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _single_thread() -> None:
    torch.set_num_threads(1)
