"""Routes: one model name, several gateways, tried in order (see :mod:`.catalog`), and
the one vocabulary of parameters a routed job is written in (see :mod:`.mapping`).

Pure: no I/O except reading the routes file in :func:`load_routes`.
"""

from receiver.routes.catalog import BUILTIN_ROUTES, EXTRA_SOURCE, Route, Target, load_routes
from receiver.routes.mapping import (
    ASPECT_RATIOS,
    RESOLUTIONS,
    ROUTE_FIELDS,
    RouteParamError,
    UnexpressibleParamError,
    check_route_params,
    default_fields,
    map_params,
)

__all__ = [
    "ASPECT_RATIOS",
    "BUILTIN_ROUTES",
    "EXTRA_SOURCE",
    "RESOLUTIONS",
    "ROUTE_FIELDS",
    "Route",
    "RouteParamError",
    "Target",
    "UnexpressibleParamError",
    "check_route_params",
    "default_fields",
    "load_routes",
    "map_params",
]
