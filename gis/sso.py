"""Optional single sign-on: a bureau's OpenID Connect identity service through Streamlit's ``st.login``.

Off by default (``sso.enabled`` in ``layers/rules/security.yaml``).  When on, the login page offers
"统一身份认证登录"; Streamlit (with ``Authlib`` installed) runs the OIDC flow with the ``[auth]`` section of
``.streamlit/secrets.toml`` and keeps the identity claims in ``st.user``.  :func:`sso_user` maps them to a
:class:`gis.auth.User`: the name from ``sso.name_claim``, the role from the values of ``sso.role_claim``
(a string or a list) through ``sso.roles`` — the highest role listed wins; no listed value, no access.  A
user of the same name disabled in the store is refused too.

>>> from gis.settings import security_settings
>>> s = security_settings()
>>> sso_user({"preferred_username": "zhang", "groups": ["staff", "landrenew-planner"]}, s)
User(name='zhang', role='planner')
>>> sso_user({"preferred_username": "li", "groups": "staff"}, s) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .accounts import ROLES

__all__ = ["sso_user", "sso_role"]


def sso_role(claims: Mapping[str, Any], settings) -> str | None:
    """The highest role that the role claim's values map to (None: no access)."""
    values = claims.get(settings.sso_role_claim)
    if values is None:
        return None
    if isinstance(values, str):
        values = [v for v in values.replace(",", " ").split() if v]
    mapped = {settings.sso_roles.get(str(v)) for v in values} - {None}
    return max(mapped, key=ROLES.index) if mapped else None


def sso_user(claims: Mapping[str, Any], settings, store=None):
    """The app user of an identity (``st.user``'s claims), or None when it gets no role / is disabled."""
    from .auth import User
    from .store import accounts as rows

    name = str(claims.get(settings.sso_name_claim) or claims.get("email") or "").strip()
    role = sso_role(claims, settings)
    if not name or role is None:
        return None
    if store is not None:
        row = rows.get_user(store, name)
        if row is not None and row["disabled"]:
            return None
    return User(name, role)
