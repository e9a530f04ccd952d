"""The declaration files of this package (YAML), read through the installed package.

`importlib.resources` finds them wherever katsaus is installed, so nothing
depends on the working directory or on an editable install.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml


def declared(name: str, package: str = "tasks.contracts") -> Any:
    """The parsed YAML file `name` of `package` (by default this one)."""
    return yaml.safe_load(resources.files(package).joinpath(name).read_text(encoding="utf-8"))
