"""CORS for the browser clients TRAINQL_CORS_ORIGINS names."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware


def install_cors(app: FastAPI, origins: list[str]) -> None:
    """Answer CORS for `origins` (TRAINQL_CORS_ORIGINS); none: no CORS headers at all."""
    if not origins:
        return
    wildcard = "*" in origins
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        # Credentials with a wildcard origin would let any site act as the user.
        allow_credentials=not wildcard,
        allow_methods=["GET", "POST", "PATCH", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Apollo-Require-Preflight",
            "X-Apollo-Operation-Name",
            "Apollo-Client-Name",
            "Apollo-Client-Version",
        ],
    )
