"""The dashboard: server-rendered pages (Jinja2, no script, no CDN) over engine.monitor.

Mounted into the REST app by `create_app` (engine/interfaces/api.py). Each page reads the
signed-in principal from `request.state.principal` and shows only what that principal may see
(see access.py)."""

from .pages import PREFIX, router

__all__ = ["PREFIX", "router"]
