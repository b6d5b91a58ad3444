"""Files exchanged with chargers over HTTP: firmware the CMS serves, diagnostics chargers upload."""

from __future__ import annotations

import hashlib
import os
import re
from typing import IO

from itsdangerous import BadSignature, URLSafeSerializer

from .config import Settings
from .errors import InvalidInput, NotFound

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_UPLOAD = 256 * 1024 * 1024


def safe_name(name: str) -> str:
    name = _SAFE.sub("_", os.path.basename(name or "")).strip("._")
    if not name:
        raise InvalidInput("A file name is required")
    return name[:120]


class FileStore:
    """Stores under ``settings.data_dir``; hands out signed upload URLs so only the asked charger uploads."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = os.path.abspath(settings.data_dir)
        self._signer = URLSafeSerializer(settings.secret_key, salt="diagnostics-upload")

    def _dir(self, *parts: str) -> str:
        path = os.path.join(self.root, *parts)
        os.makedirs(path, exist_ok=True)
        return path

    # diagnostics
    def diagnostics_upload_url(self, identity: str) -> str:
        token = self._signer.dumps(identity)
        return f"{self.settings.public_url.rstrip('/')}/files/diagnostics/{token}/"

    def identity_for_upload(self, token: str) -> str:
        try:
            return self._signer.loads(token)
        except BadSignature:
            raise NotFound("Unknown upload location") from None

    def save_diagnostics(self, identity: str, filename: str, stream: IO[bytes]) -> str:
        path = os.path.join(self._dir("diagnostics", safe_name(identity)), safe_name(filename))
        self._copy(stream, path)
        return path

    def list_diagnostics(self, identity: str) -> list[dict]:
        d = os.path.join(self.root, "diagnostics", safe_name(identity))
        if not os.path.isdir(d):
            return []
        return [{"name": n, "size": os.path.getsize(os.path.join(d, n))} for n in sorted(os.listdir(d))]

    # firmware
    def save_firmware(self, filename: str, stream: IO[bytes]) -> tuple[str, str]:
        """Store a firmware image; returns (stored name, URL chargers download it from)."""
        tmp = os.path.join(self._dir("firmware"), f".upload-{os.getpid()}-{id(stream)}")
        digest = self._copy(stream, tmp)
        stored = f"{digest[:12]}-{safe_name(filename)}"
        os.replace(tmp, os.path.join(self.root, "firmware", stored))
        return stored, self.firmware_url(stored)

    def firmware_url(self, stored: str) -> str:
        return f"{self.settings.public_url.rstrip('/')}/files/firmware/{stored}"

    def firmware_path(self, stored: str) -> str:
        path = os.path.join(self.root, "firmware", safe_name(stored))
        if not os.path.isfile(path):
            raise NotFound("No such firmware")
        return path

    @staticmethod
    def _copy(stream: IO[bytes], path: str) -> str:
        h = hashlib.sha256()
        size = 0
        with open(path, "wb") as out:
            while chunk := stream.read(1 << 16):
                size += len(chunk)
                if size > MAX_UPLOAD:
                    out.close()
                    os.unlink(path)
                    raise InvalidInput("File too large")
                h.update(chunk)
                out.write(chunk)
        return h.hexdigest()
