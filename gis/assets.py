"""Local map assets: Leaflet served from ``gis/static`` instead of a CDN.

The Streamlit app serves ``gis/static`` at ``/app/static`` (``server.enableStaticServing``, the
top-level ``static`` link); a standalone HTML file refers to a copy beside it (:func:`copy_static`).

>>> js, css = local_assets("/app/static")
>>> js
[('leaflet', '/app/static/leaflet/leaflet.js')]
>>> external_urls('<script src="https://cdn.jsdelivr.net/npm/leaflet.js"></script>')
['https://cdn.jsdelivr.net/npm/leaflet.js']
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

__all__ = ["STATIC_DIR", "APP_STATIC_URL", "local_assets", "use_local_assets", "external_urls", "copy_static"]

#: Folder of the vendored files (see ``gis/static/README.md`` for versions and licences).
STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Where Streamlit serves ``static/`` next to ``app.py``.
APP_STATIC_URL = "/app/static"

_JS = (("leaflet", "leaflet/leaflet.js"),)
_CSS = (("leaflet_css", "leaflet/leaflet.css"),)
_URL_ATTR = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)""", re.IGNORECASE)
_URL_CALL = re.compile(r"""["'](https?:)?//[^"'\s]+["']""")


def local_assets(base_url: str = APP_STATIC_URL) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The JS and CSS a map needs, as folium ``default_js``/``default_css`` pairs under ``base_url``.

    Parameters
    ----------
    base_url
        URL prefix of the static folder: ``/app/static`` in the app, a relative ``static`` for a
        standalone HTML file written next to a copy of the folder.
    """
    base = base_url.rstrip("/")
    return ([(name, f"{base}/{path}") for name, path in _JS], [(name, f"{base}/{path}") for name, path in _CSS])


def use_local_assets(element, base_url: str = APP_STATIC_URL) -> None:
    """Point a folium element (a ``Map``) at the local files only, on this instance (not the class).

    folium's class-level defaults (jQuery, Bootstrap, Font Awesome, awesome-markers from CDNs) are
    replaced: the maps built by :mod:`gis.maps` need Leaflet alone.
    """
    js, css = local_assets(base_url)
    element.default_js = js
    element.default_css = css


def external_urls(html: str) -> list[str]:
    """Every absolute ``http(s)://`` or protocol-relative URL that a page would load (src, href,
    CSS ``url()``, quoted URL strings in scripts); empty for an offline page."""
    found: list[str] = []
    for m in _URL_ATTR.finditer(html):
        url = (m.group(1) or m.group(2) or "").strip()
        if url.startswith(("http://", "https://", "//")):
            found.append(url)
    for m in _URL_CALL.finditer(html):
        found.append(m.group(0)[1:-1])
    return list(dict.fromkeys(found))


def copy_static(target_dir: str | Path) -> Path:
    """Copy the static folder to ``target_dir/static`` (for standalone HTML files); returns the copy."""
    target = Path(target_dir) / "static"
    shutil.copytree(STATIC_DIR, target, dirs_exist_ok=True)
    return target
