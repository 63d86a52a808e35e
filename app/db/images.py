"""The tenant image library: stored re-encoded images, listed without their bytes."""

from __future__ import annotations

from psycopg import AsyncConnection

from app.db.queries import fetch_all, fetch_one, q
from app.domain.images import ImageContent, LibraryImage, PreparedImage


async def lock_library(conn: AsyncConnection, tenant_id: int) -> None:
    """Serialise uploads per tenant until the transaction ends (the quota check needs it)."""
    await conn.execute(q("lock_image_library"), {"tenant_id": tenant_id})


async def used_bytes(conn: AsyncConnection, tenant_id: int) -> int:
    cur = await conn.execute(q("image_library_bytes"), {"tenant_id": tenant_id})
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def insert_image(
    conn: AsyncConnection,
    tenant_id: int,
    image: PreparedImage,
    *,
    public_key: str,
    filename: str,
    uploaded_by: int | None,
) -> int:
    cur = await conn.execute(
        q("insert_image"),
        {
            "tenant_id": tenant_id,
            "public_key": public_key,
            "filename": filename,
            "content_type": image.content_type,
            "width": image.width,
            "height": image.height,
            "content": image.data,
            "byte_size": len(image.data),
            "sha256": image.sha256,
            "uploaded_by": uploaded_by,
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def list_images(conn: AsyncConnection, tenant_id: int) -> list[LibraryImage]:
    rows: list[LibraryImage] = await fetch_all(
        conn, LibraryImage, "list_images", {"tenant_id": tenant_id}
    )
    return rows


async def get_image(conn: AsyncConnection, tenant_id: int, image_id: int) -> LibraryImage | None:
    row: LibraryImage | None = await fetch_one(
        conn, LibraryImage, "get_image", {"tenant_id": tenant_id, "image_id": image_id}
    )
    return row


async def find_by_sha256(conn: AsyncConnection, tenant_id: int, sha256: str) -> LibraryImage | None:
    row: LibraryImage | None = await fetch_one(
        conn, LibraryImage, "find_image_by_sha256", {"tenant_id": tenant_id, "sha256": sha256}
    )
    return row


async def delete_image(conn: AsyncConnection, tenant_id: int, image_id: int) -> LibraryImage | None:
    """The deleted image, or None when the tenant has no such image."""
    row: LibraryImage | None = await fetch_one(
        conn, LibraryImage, "delete_image", {"tenant_id": tenant_id, "image_id": image_id}
    )
    return row


async def get_content_by_key(conn: AsyncConnection, public_key: str) -> ImageContent | None:
    """Any tenant's image by its public key (for /media, which has no login)."""
    row: ImageContent | None = await fetch_one(
        conn, ImageContent, "get_image_content_by_key", {"public_key": public_key}
    )
    return row
