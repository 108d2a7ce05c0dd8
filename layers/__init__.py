"""Layer definitions: one YAML file per layer (schema, Chinese labels, aliases, symbology, popup fields).

The single source that ingest, store, app and exports read, through :mod:`gis.schema`.
Rule files live in ``layers/rules/``.
"""

from pathlib import Path

LAYERS_DIR = Path(__file__).resolve().parent
