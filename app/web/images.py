"""The image library at /images (upload, list, delete) and /media/<key>, the public image."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Template
from litestar.status_codes import HTTP_304_NOT_MODIFIED
from litestar.types import ControllerRouterHandler

from app.domain.errors import InvalidInput
from app.domain.images import MAX_IMAGE_BYTES, MAX_PIXELS, MAX_SIDE
from app.services import images as service
from app.settings import Settings
from app.web.dependencies import USER, PoolDep, SettingsDep, UserDep, tenant_of
from app.web.errors import is_htmx
from app.web.events import client_ip, see_other

# The form's own fields and boundaries on top of the file; errors.py reads "upload_limit"
# to say which limit a 413 hit.
_BODY_LIMIT = MAX_IMAGE_BYTES + 64 * 1024
_UPLOAD_OPT = {"upload_limit": MAX_IMAGE_BYTES}
# What the file picker offers; the server decides by content, whatever the picker allowed.
_ACCEPT = "image/png,image/jpeg,image/webp,image/gif,.png,.jpg,.jpeg,.webp,.gif"
# A key names one image's bytes for ever (a new upload gets a new key), so caches keep it.
_MEDIA_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}


def _quota(settings: Settings) -> int:
    return settings.image_quota_mb * 2**20


def _limits() -> dict[str, Any]:
    return {
        "accept": _ACCEPT,
        "max_mb": MAX_IMAGE_BYTES // 2**20,
        "max_megapixels": MAX_PIXELS // 1_000_000,
        "max_side": MAX_SIDE,
    }


@get("/")
async def images_page(user: UserDep, pool: PoolDep, settings: SettingsDep) -> Template:
    library = await service.library(pool, tenant_of(user), quota_bytes=_quota(settings))
    context = {"user": user, "lib": library, **_limits()}
    return Template("images/page.html", context=context)


@post("/upload", request_max_body_size=_BODY_LIMIT, opt=_UPLOAD_OPT)
async def upload_image(
    request: Request[Any, Any, Any], user: UserDep, pool: PoolDep, settings: SettingsDep
) -> Response[Any]:
    form = await request.form()
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        raise InvalidInput("Choose an image to upload.")
    tenant_id = tenant_of(user)
    uploaded = await service.upload(
        pool,
        tenant_id,
        user_id=user.id,
        filename=file.filename,
        data=await file.read(),
        quota_bytes=_quota(settings),
        ip=client_ip(request),
    )
    if not is_htmx(request):
        return see_other(request, "/images")
    library = await service.library(pool, tenant_id, quota_bytes=_quota(settings))
    context = {"up": uploaded, "lib": library}
    return Template("images/_uploaded.html", context=context)


@post("/{image_id:int}/delete")
async def delete_image(
    request: Request[Any, Any, Any],
    image_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    settings: SettingsDep,
) -> Response[Any]:
    tenant_id = tenant_of(user)
    gone = await service.delete(pool, tenant_id, image_id, user_id=user.id, ip=client_ip(request))
    if not is_htmx(request):
        return see_other(request, "/images")
    library = await service.library(pool, tenant_id, quota_bytes=_quota(settings))
    return Template("images/_deleted.html", context={"gone": gone, "lib": library})


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


@get("/media/{key:str}")
async def media(
    request: Request[Any, Any, Any], key: FromPath[str], pool: PoolDep
) -> Response[bytes]:
    """An image by its public key: no login, the key is the capability (as a display code is)."""
    image = await service.media(pool, key)
    etag = f'"{image.sha256}"'
    headers = {**_MEDIA_HEADERS, "ETag": etag}
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(image.data, media_type=image.content_type, headers=headers)


router = Router(
    path="/images",
    route_handlers=[images_page, upload_image, delete_image],
    dependencies=USER,
)
ROUTES: list[ControllerRouterHandler] = [router, media]
