"""One masking function for every place a store address is shown or logged.

A PostGIS address carries the database password (``postgresql://landrenew_app:PASSWORD@host/db``); the
app's side bar, the CLI's messages, error details and ``repr`` of a store all show
:func:`mask_url` of it, never the address itself.  Passwords given as query parameters
(``?password=…``) and libpq keyword strings (``password=…``) are masked too.

>>> mask_url("postgresql://landrenew_app:s3cr%40t@db.local:5432/landrenew")
'postgresql://landrenew_app:***@db.local:5432/landrenew'
>>> mask_url("postgresql+psycopg://u:p@h/db?sslmode=require&password=x")
'postgresql+psycopg://u:***@h/db?sslmode=require&password=***'
>>> mask_url("host=db user=app password='a b' dbname=x")
'host=db user=app password=*** dbname=x'
>>> mask_url("var/landrenew.gpkg")
'var/landrenew.gpkg'
"""

from __future__ import annotations

import os
import re

__all__ = ["mask_url", "MASK"]

MASK = "***"
# scheme://user:password@  (the password may hold any character but '@' is the last one before the host)
# (greedy up to the last '@' of the word: an unencoded '@' in the password is masked too)
_USERINFO = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*):\S*@(?=[^@\s]*(?:[\s'\")]|$))")
_QUERY = re.compile(r"(?P<head>[?&](?:password|passwd|pwd)=)[^&\s#]*", re.IGNORECASE)
_KEYWORD = re.compile(r"(?P<head>(?<![\w?&])password\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s']+)", re.IGNORECASE)


def mask_url(text: str | os.PathLike | None) -> str:
    """``text`` (a store URL or path, or a message holding one) with every password replaced by ``***``."""
    if text is None:
        return ""
    out = str(text)
    out = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", out)
    out = _QUERY.sub(lambda m: f"{m['head']}{MASK}", out)
    out = _KEYWORD.sub(lambda m: f"{m['head']}{MASK}", out)
    return out
