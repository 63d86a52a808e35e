"""The tenant image library: upload (checked, re-encoded, within the quota), list, delete, serve."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from app.db import audit
from app.db import images as db
from app.db import templates as templates_db
from app.db.pool import Pool, connection, tenant_connection
from app.domain.errors import InvalidInput, NotFound
from app.domain.images import (
    ImageContent,
    LibraryImage,
    clean_filename,
    human_size,
    is_image_key,
    new_image_key,
    prepare_image,
)

# Per tenant, counted in stored (re-encoded) bytes; Settings.image_quota_mb overrides it.
DEFAULT_QUOTA_BYTES = 200 * 2**20

_NO_IMAGE = "There is no such image in your library."
# A 40-megapixel image takes about 160 MB while it is decoded; two at a time per process, so a
# burst of uploads queues instead of exhausting memory (and leaves asyncio's own threads free).
_DECODING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="image-decode")


@dataclass(frozen=True, slots=True)
class Library:
    images: list[LibraryImage]
    used_bytes: int
    quota_bytes: int

    @property
    def used_text(self) -> str:
        return human_size(self.used_bytes)

    @property
    def quota_text(self) -> str:
        return human_size(self.quota_bytes)

    @property
    def used_percent(self) -> int:
        return min(100, round(100 * self.used_bytes / self.quota_bytes)) if self.quota_bytes else 0


@dataclass(frozen=True, slots=True)
class Uploaded:
    image: LibraryImage
    # The same picture was in the library already: nothing new was stored.
    existing: bool


async def library(pool: Pool, tenant_id: int, *, quota_bytes: int) -> Library:
    async with tenant_connection(pool, tenant_id) as conn:
        images = await db.list_images(conn, tenant_id)
        used = await db.used_bytes(conn, tenant_id)
    return Library(images, used, quota_bytes)


async def upload(
    pool: Pool,
    tenant_id: int,
    *,
    user_id: int | None,
    filename: str,
    data: bytes,
    quota_bytes: int,
    ip: str = "",
) -> Uploaded:
    """Check and re-encode the file, then store it if the tenant's library has room.

    Decoding and encoding run in a worker thread (Pillow releases the GIL), before a
    connection is taken, so a large photo holds neither the event loop nor the pool.
    """
    image = await asyncio.get_running_loop().run_in_executor(_DECODING, prepare_image, data)
    name = clean_filename(filename)
    async with tenant_connection(pool, tenant_id) as conn:
        await db.lock_library(conn, tenant_id)
        same = await db.find_by_sha256(conn, tenant_id, image.sha256)
        if same is not None:
            return Uploaded(same, existing=True)
        used = await db.used_bytes(conn, tenant_id)
        if used + len(image.data) > quota_bytes:
            raise InvalidInput(
                f"Your image library is full: {human_size(used)} of {human_size(quota_bytes)} "
                f"is used and this image needs {human_size(len(image.data))}. Delete images "
                "you no longer use, then upload it again."
            )
        image_id = await db.insert_image(
            conn,
            tenant_id,
            image,
            public_key=new_image_key(),
            filename=name,
            uploaded_by=user_id,
        )
        await audit.record(
            conn,
            tenant_id=tenant_id,
            user_id=user_id,
            action="image.upload",
            detail={
                "image_id": image_id,
                "filename": name,
                "content_type": image.content_type,
                "bytes": len(image.data),
                "uploaded_bytes": len(data),
            },
            ip=ip,
        )
        stored = await db.get_image(conn, tenant_id, image_id)
    assert stored is not None
    return Uploaded(stored, existing=False)


async def delete(
    pool: Pool, tenant_id: int, image_id: int, *, user_id: int | None, ip: str = ""
) -> LibraryImage:
    """Remove the image; /media/<its key> answers 404 from now on (caches may keep a copy)."""
    async with tenant_connection(pool, tenant_id) as conn:
        gone = await db.delete_image(conn, tenant_id, image_id)
        if gone is None:
            raise NotFound(_NO_IMAGE)
        # A screen must not lose a logo mid-race: the template goes first (the transaction
        # rolls the delete back).
        using = await templates_db.templates_using_image(conn, tenant_id, gone.public_key)
        if using:
            raise InvalidInput(
                f"{gone.filename} is used by the template{'s' if len(using) > 1 else ''} "
                f"{', '.join(using)}: take it out of the template (and save) first."
            )
        await audit.record(
            conn,
            tenant_id=tenant_id,
            user_id=user_id,
            action="image.delete",
            detail={"image_id": gone.id, "filename": gone.filename, "bytes": gone.byte_size},
            ip=ip,
        )
    return gone


async def media(pool: Pool, public_key: str) -> ImageContent:
    """An image by its public key, for anyone who has the key (display screens, browsers)."""
    if not is_image_key(public_key):
        raise NotFound("There is no such image.")
    async with connection(pool) as conn:
        found = await db.get_content_by_key(conn, public_key)
    if found is None:
        raise NotFound("There is no such image.")
    return found
