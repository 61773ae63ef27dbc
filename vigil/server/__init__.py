"""The HTTP API and the dashboard (``vigil serve``). Calls :mod:`vigil.app`, never the command line."""

from vigil.server.api import BackgroundServer, create_app, trusted_hosts
from vigil.server.service import Service, video_id

__all__ = ["BackgroundServer", "Service", "create_app", "trusted_hosts", "video_id"]
