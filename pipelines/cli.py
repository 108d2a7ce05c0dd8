"""The ``landrenew`` command: ``landrenew --help`` lists the subcommands."""

from __future__ import annotations

import importlib
import sys

import click

from gis.errors import LandRenewError

#: subcommand modules; each defines ``command`` (a click command), optionally ``extra_commands``
SUBCOMMANDS = (
    "info",
    "ingest",
    "demo",
    "assess",
    "renewal",
    "export",
    "report",
    "users",
    "db",
    "cases",
    "history",
    "changes",
    "runs",
    "diff",
    "backup",
    "restore",
)


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LandRenewError as exc:
            click.secho(f"错误：{exc}", fg="red", err=True)
            if exc.detail:
                click.echo(f"  ({exc.detail})", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="landrenew")
def main() -> None:
    """柯桥区闲置存量土地处置与城中村改造平台 — landrenew."""


for _name in SUBCOMMANDS:
    try:
        _mod = importlib.import_module(f"pipelines.{_name}")
    except ModuleNotFoundError as _exc:  # a subcommand not built yet
        if _exc.name != f"pipelines.{_name}":
            raise
        continue
    main.add_command(_mod.command)
    for _extra in getattr(_mod, "extra_commands", ()):  # a module may add several top-level commands
        main.add_command(_extra)

if __name__ == "__main__":  # pragma: no cover
    main()
