"""The ``language`` fixture: each shipped runtime in turn (python, node, node24)."""

from __future__ import annotations

import pytest
from runtime_languages import LANGUAGES, Language


@pytest.fixture(params=LANGUAGES)
def language(request: pytest.FixtureRequest) -> Language:
    """Each shipped runtime in turn."""
    chosen: Language = request.param
    return chosen
