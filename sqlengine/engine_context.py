"""What statement handlers, introspection and pull queries use of the engine: its log,
configuration, catalog and the services over them. `engine.Engine` provides it;
they depend on this interface rather than on the engine, which builds on them."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from sqlengine import results as R
from sqlengine.catalog import Catalog
from sqlengine.log.base import Log
from sqlengine.materialized import Materializations
from sqlengine.processing_log import ProcessingLog
from sqlengine.scaleout import ScaleOut
from sqlengine.schema_registry import SchemaRegistry


class EngineContext(Protocol):
    log: Log
    config: dict[str, str]  # the engine's properties (SET changes them)
    catalog: Catalog
    plog: ProcessingLog
    schema_registry: SchemaRegistry
    materialized: Materializations
    state_dir: Path  # where persistent queries' stores keep their local state
    scaleout: ScaleOut  # the persistent queries' shares of their consumer groups

    def execute(self, sql: str, properties: dict[str, str] | None = None) -> list[R.Result]:
        """Run every statement of `sql` (RUN SCRIPT runs a file's this way)."""
        ...
