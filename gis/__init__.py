"""landrenew's library: idle stock land and urban-village renewal for 柯桥区.

The public names are chosen here; implementations live one concept per module.  Names are imported
lazily (PEP 562) so that ``import gis`` stays cheap for the command line and the app.

>>> import gis
>>> gis.get_layer("parcels").label
'宗地'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

#: public name -> (module, attribute)
_PUBLIC = {
    # layers, rules, errors
    "get_layer": ("schema", "get_layer"),
    "layer_names": ("schema", "layer_names"),
    "conform": ("frames", "conform"),
    "load_rules": ("rules", "load_rules"),
    "RuleSet": ("rules", "RuleSet"),
    "LandRenewError": ("errors", "LandRenewError"),
    "InputFileError": ("errors", "InputFileError"),
    "CRSError": ("errors", "CRSError"),
    "RuleFileError": ("errors", "RuleFileError"),
    "StoreError": ("errors", "StoreError"),
    "ConflictError": ("errors", "ConflictError"),
    "PermissionDenied": ("errors", "PermissionDenied"),
    "STORE_CRS": ("crs", "STORE_CRS"),
    "AREA_CRS": ("crs", "AREA_CRS"),
    # reading and the store
    "read_source": ("readers", "read_source"),
    "read_layer_file": ("ingest", "read_layer_file"),
    "ingest_files": ("ingest", "ingest_files"),
    "rejects_csv": ("ingest", "rejects_csv"),
    "find_table": ("sheets", "find_table"),
    "safe_extract": ("archives", "safe_extract"),
    "open_store": ("store", "open_store"),
    "Store": ("store", "Store"),
    "GeoPackageStore": ("store", "GeoPackageStore"),
    "register_rasters": ("imagery", "register_rasters"),
    "list_rasters": ("imagery", "list_rasters"),
    # analysis
    "largest_overlap": ("joins", "largest_overlap"),
    "attribute_parcels": ("joins", "attribute_parcels"),
    "zonal_means": ("zonal", "zonal_means"),
    "activity_index": ("zonal", "activity_index"),
    "load_idle_rules": ("idle", "load_idle_rules"),
    "classify_idle_land": ("idle", "classify_idle_land"),
    "assess_idle_land": ("assess", "assess_idle_land"),
    "load_renewal_rules": ("renewal", "load_renewal_rules"),
    "percent_complete": ("renewal", "percent_complete"),
    "village_status": ("renewal", "village_status"),
    "district_summary": ("renewal", "district_summary"),
    "renewal_deadline": ("renewal", "renewal_deadline"),
    "resettlement_sites": ("resettlement", "resettlement_sites"),
    # jobs over a store
    "assess_store": ("workflow", "assess_store"),
    "renewal_store": ("workflow", "renewal_store"),
    "build_demo_store": ("workflow", "build_demo_store"),
    "build_demo_layers": ("demo", "build_demo_layers"),
    "write_demo_rasters": ("demo", "write_demo_rasters"),
    "demo_imagery_conflicts": ("demo", "demo_imagery_conflicts"),
    "raster_date": ("imagery", "raster_date"),
    "link_projects": ("joins", "link_projects"),
    "intersecting_ids": ("joins", "intersecting_ids"),
    "ids_within_distance": ("joins", "ids_within_distance"),
    "write_layer_file": ("output", "write_layer_file"),
    # the partitioned engine (dask-geopandas + distributed)
    "assess_partitioned": ("partitioned", "assess_partitioned"),
    "assess_store_partitioned": ("partitioned", "assess_store_partitioned"),
    "spatial_partition": ("partitioned", "spatial_partition"),
    "read_partitioned": ("partitioned", "read_partitioned"),
    "start_client": ("partitioned", "start_client"),
    "ingest_partitioned": ("partitioned_ingest", "ingest_partitioned"),
    "write_scale_demo": ("scale_demo", "write_scale_demo"),
    # exports for upper-level departments
    "export_geojson": ("export", "export_geojson"),
    "to_geojson": ("export", "to_geojson"),
    "geojson_text": ("export", "geojson_text"),
    "export_gpkg": ("export", "export_gpkg"),
    "write_ledger": ("ledger", "write_ledger"),
    "ledger_facts": ("facts", "ledger_facts"),
    "safe_cell": ("cells", "safe_cell"),
    "safe_frame": ("cells", "safe_frame"),
    "build_report": ("report", "build_report"),
    "layer_qml": ("styles", "layer_qml"),
    "layer_sld": ("styles", "layer_sld"),
    # accounts and security
    "add_user": ("accounts", "add_user"),
    "list_users": ("accounts", "list_users"),
    "authenticate": ("auth", "authenticate"),
    "mask_url": ("redact", "mask_url"),
    "security_settings": ("settings", "security_settings"),
    "district": ("district", "district"),
    "parse_extent": ("district", "parse_extent"),
    "check_uploads": ("uploads", "check_uploads"),
    # disposal cases (docs/disposal.md)
    "load_disposal_rules": ("disposal_rules", "load_disposal_rules"),
    "open_case": ("cases", "open_case"),
    "record_event": ("cases", "record_event"),
    "allowed_events": ("cases", "allowed_events"),
    "Attachment": ("cases", "Attachment"),
    "case_deadlines": ("deadlines", "case_deadlines"),
    "disposal_warnings": ("disposal_warnings", "disposal_warnings"),
    "parcel_stages": ("disposal_progress", "parcel_stages"),
    "disposal_progress": ("disposal_progress", "disposal_progress"),
    "disposal_movements": ("disposal_progress", "disposal_movements"),
    "case_status": ("disposal_export", "case_status"),
    "disposal_ledger": ("disposal_export", "disposal_ledger"),
    "disposal_progress_sheet": ("disposal_export", "disposal_progress_sheet"),
    "with_case_fields": ("export", "with_case_fields"),
    # the map: inline below the size threshold, vector tiles above
    "map_from_layers": ("maps", "map_from_layers"),
    "map_overlay": ("maps", "map_overlay"),
    "build_tileset": ("tiles", "build_tileset"),
    "ensure_tileset": ("tiles", "ensure_tileset"),
    "TileSet": ("tiles", "TileSet"),
    "tile_threshold": ("tiles", "tile_threshold"),
    # history: batches, versions, kept runs, backups (docs/history.md)
    "write_batch": ("batches", "write_batch"),
    "list_batches": ("batches", "list_batches"),
    "ImportRefused": ("batches", "ImportRefused"),
    "ledger_at": ("history", "ledger_at"),
    "parcel_history": ("history", "parcel_history"),
    "changes_since": ("history", "changes_since"),
    "list_runs": ("runs", "list_runs"),
    "current_run": ("runs", "current_run"),
    "read_run": ("runs", "read_run"),
    "diff_runs": ("runs", "diff_runs"),
    "reproduce_run": ("runs", "reproduce_run"),
    "changed_since_run": ("runs", "changed_since_run"),
    "version_items": ("history_view", "version_items"),
    "decision_items": ("history_view", "decision_items"),
    "compute_assessment": ("workflow", "compute_assessment"),
    "decision_snapshots": ("decisions", "decision_snapshots"),
    "backup_store": ("backup", "backup_store"),
    "restore_store": ("backup", "restore_store"),
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    try:
        module, attr = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'gis' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .assess import assess_idle_land  # noqa: F401
    from .store import open_store  # noqa: F401
