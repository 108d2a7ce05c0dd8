"""Options shared by the subcommands."""

from __future__ import annotations

import datetime as dt

import click

from gis.store import default_store_url, open_store

store_option = click.option(
    "--store",
    "store_url",
    default=None,
    metavar="PATH|URL",
    help="GeoPackage path or postgresql:// URL (default: $DATABASE_URL, $LANDRENEW_STORE, var/landrenew.gpkg).",
)

as_of_option = click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD", help="研判基准日 (default: today).")


def get_store(store_url: str | None):
    return open_store(store_url or default_store_url())


def parse_as_of(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"“{value}” 不是日期，应写成 YYYY-MM-DD（例如 2026-10-31）", param_hint="--as-of"
        ) from None


#: an existing input file (any format ingest reads)
INPUT_FILE = click.Path(exists=True, dir_okay=False)
