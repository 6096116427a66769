"""Shared by the dataset tests of both transports: CSV bodies, a 1 MB-limit app, checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from sqlalchemy import func
from sqlmodel import select

from tests.lifespan import app_lifespan
from trainql.app import create_app
from trainql.config import Settings
from trainql.db.models import DatasetRow
from trainql.services import Services

SKILLS_CSV = b"job_role_name,trend_score,future_need_level\nEngineer,0.8,HIGH\nClerk,0.2,LOW\n"
BOUNDARY = "trainql-test-boundary"

# What each refused upload is, and what the refusal says.
REFUSED_UPLOADS = {
    "empty": (b"", "The file is empty"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not UTF-8"),
    "not-utf8": ("name,city\nJosé,Köln\n".encode("latin-1"), "not UTF-8"),
    "header-only": (b"job_role_name,trend_score\n", "no data rows"),
}


def oversized_csv(megabytes: float) -> bytes:
    """A valid CSV a little over `megabytes` MiB."""
    row = b"Engineer,0.8,HIGH\n"
    return b"job_role_name,trend_score,future_need_level\n" + row * int(
        megabytes * 1024 * 1024 / len(row) + 1000
    )


def multipart_body(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> bytes:
    """A multipart/form-data body with BOUNDARY, for sending without a Content-Length."""
    out = bytearray()
    for name, value in fields.items():
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    for name, (filename, content) in files.items():
        out += (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; "
            f'name="{name}"; filename="{filename}"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        out += content + b"\r\n"
    out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out)


async def chunked(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """`body` as a stream, so httpx sends it chunked, without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def chunked_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **(extra or {})}


async def dataset_row_count(services: Services) -> int:
    async with services.db.session() as session:
        return int((await session.exec(select(func.count()).select_from(DatasetRow))).one())


def dataset_files(settings: Settings) -> list[str]:
    """Every file in the datasets directory, temp files included."""
    directory = Path(settings.data_path) / "datasets"
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


class SmallLimitClient:
    """An app with TRAINQL_MAX_UPLOAD_MB=1 and a client for it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings.model_copy(update={"max_upload_mb": 1})

    async def __aenter__(self) -> tuple[httpx.AsyncClient, Services]:
        self.app = create_app(self.settings)
        self.lifespan = app_lifespan(self.app)
        await self.lifespan.__aenter__()
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        return self.client, self.app.state.services

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        await self.lifespan.__aexit__(None, None, None)
