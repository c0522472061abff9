"""The base of every configuration section, engines' sections included.

Apart from gateway.settings so that engine modules can declare their section without
importing the whole configuration (which is assembled from the engine registry).
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    # A misspelt key is an error, not silently ignored: the operator meant something by it.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)
