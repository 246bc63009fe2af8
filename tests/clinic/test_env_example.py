"""Every setting read from the environment is listed in .env.example."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_environment_variable_the_settings_read() -> None:
    settings_source = (REPO / "config" / "settings.py").read_text()
    read = set(re.findall(r'env_(?:str|bool|int|float|list)\("([A-Z0-9_]+)"', settings_source))
    listed = set(re.findall(r"^#? ?([A-Z0-9_]+)=", (REPO / ".env.example").read_text(), flags=re.MULTILINE))
    assert read, "no env_*() calls found: the pattern no longer matches config/settings.py"
    assert read - listed == set()
