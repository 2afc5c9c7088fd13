"""``GET /assets/{task_id}/{name}``: the mirrored result images, served back.

Behind the same rule as the admin API (``receiver.web.auth``): the bearer token or
the dashboard's session cookie. A stored image never changes (one key per task and
position, written once, atomically), so it is sent with a year-long ``immutable``
cache lifetime; ``private`` because it sits behind authentication. The content
type comes from the extension genhook chose from the image's own bytes, and
``nosniff`` stops a browser from second-guessing it.

On an S3 store (:mod:`receiver.assets.s3`) the image is streamed from the bucket
through this process by default (``GENHOOK_ASSETS_S3_SERVE=stream``): the bucket
stays private, the same token guards every image, and the client needs no route to
the S3 server. ``redirect`` answers 307 to a presigned URL valid for
``GENHOOK_ASSETS_S3_REDIRECT_SECONDS`` instead, which takes the bytes off genhook's
hands but needs the S3 endpoint reachable from the client and gives the image to
whoever holds the URL until it expires.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from receiver.assets.store import media_type_of, validate_key
from receiver.web.http import error, services
from receiver.web.operation import operation

CACHE_HEADERS = {
    "Cache-Control": "private, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}
REDIRECT_HEADERS = {"Cache-Control": "no-store"}


@operation(
    "A mirrored result image, byte for byte",
    "assets",
    ok={200: "image/*", 307: None},  # 307: S3 store with GENHOOK_ASSETS_S3_SERVE=redirect
    errors={
        404: "no such asset",
        503: "the asset store (S3) does not answer",
    },
)
async def get_asset(request: Request) -> Response:
    """One mirrored image, byte for byte as downloaded."""
    key = f"{request.path_params['task_id']}/{request.path_params['name']}"
    try:
        validate_key(key)
    except ValueError:
        return error(404, "asset_not_found", "no such asset")
    store = services(request).asset_store
    path = store.local_file(key)
    if path is not None:
        return FileResponse(path, media_type=media_type_of(key), headers=CACHE_HEADERS)
    presigned = await store.presigned_url(key)  # signed locally, whether or not it exists
    if presigned is not None:
        if not await store.exists(key):
            return error(404, "asset_not_found", "no such asset")
        # The URL is short-lived and a bearer of the image: not worth caching anywhere.
        return RedirectResponse(presigned, status_code=307, headers=REDIRECT_HEADERS)
    # The first chunk before the answer: a missing object is a 404 and an unreachable
    # store a 503 (AssetStoreUnavailableError), both before any header is sent, in one
    # request to the store rather than a lookup and then a read.
    chunks = store.read(key)
    try:
        first = await anext(chunks)
    except FileNotFoundError:
        return error(404, "asset_not_found", "no such asset")
    except StopAsyncIteration:
        first = b""
    return StreamingResponse(
        _then(first, chunks), media_type=media_type_of(key), headers=CACHE_HEADERS
    )


async def _then(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


routes = [Route("/assets/{task_id}/{name}", get_asset, methods=["GET"])]
