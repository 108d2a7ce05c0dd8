"""Thin jobs over ``gis`` and the ``landrenew`` command line (one file per subcommand, like rasterio's rio/)."""
