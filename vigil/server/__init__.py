"""The HTTP API and the dashboard (``vigil serve``). Calls :mod:`vigil.app`, never the command line."""

from vigil.server.api import (
    LOOPBACK_HOSTS,
    BackgroundServer,
    check_api_key,
    check_port,
    create_app,
    serve,
    trusted_hosts,
)
from vigil.server.service import Service, video_id

__all__ = ["LOOPBACK_HOSTS", "BackgroundServer", "Service", "check_api_key", "check_port", "create_app", "serve",
           "trusted_hosts", "video_id"]
