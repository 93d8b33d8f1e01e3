"""Demo keys: a merchant and a platform key pair per channel, for trials without merchant accounts.

Generated once per directory (``CHANNEL_SIMULATOR_KEYS_DIR``, ``var/channel-keys/`` by default; a tmp dir in tests);
never committed. The merchant halves configure the adapters (the table in settings names the directory), the platform
halves are what a gateway standing in for Alipay or WeChat Pay signs with: its entry point loads them from here.
Standard library and ``cryptography`` only, so that the gateway's entry point can use it without the adapters' SDKs.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import string
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

_PEM_FILES = {
    "alipay_app_private_key": "alipay_app_private_key.pem",
    "alipay_app_public_key": "alipay_app_public_key.pem",
    "alipay_platform_private_key": "alipay_platform_private_key.pem",
    "alipay_platform_public_key": "alipay_platform_public_key.pem",
    "wechat_merchant_private_key": "wechat_merchant_private_key.pem",
    "wechat_merchant_public_key": "wechat_merchant_public_key.pem",
    "wechat_platform_private_key": "wechat_platform_private_key.pem",
    "wechat_platform_public_key": "wechat_platform_public_key.pem",
    "wechat_api_v3_key": "wechat_api_v3_key.txt",
}
_IDS_FILE = "ids.json"


@dataclass(frozen=True)
class DemoKeys:
    directory: Path
    alipay_app_id: str
    wechat_mch_id: str
    wechat_app_id: str
    wechat_merchant_serial_no: str
    wechat_public_key_id: str
    alipay_app_private_key: str = field(repr=False)
    alipay_app_public_key: str = field(repr=False)
    alipay_platform_private_key: str = field(repr=False)
    alipay_platform_public_key: str = field(repr=False)
    wechat_merchant_private_key: str = field(repr=False)
    wechat_merchant_public_key: str = field(repr=False)
    wechat_platform_private_key: str = field(repr=False)
    wechat_platform_public_key: str = field(repr=False)
    wechat_api_v3_key: str = field(repr=False)

    def options(self, channel: str) -> dict[str, str]:
        """The merchant's side of ``channel``'s demo keys, as that channel's options in ``PAYMENT_CHANNELS``."""
        if channel == "alipay":
            return {
                "app_id": self.alipay_app_id,
                "private_key": self.alipay_app_private_key,
                "public_key": self.alipay_platform_public_key,
            }
        if channel == "wechat":
            return {
                "mch_id": self.wechat_mch_id,
                "app_id": self.wechat_app_id,
                "cert_serial_no": self.wechat_merchant_serial_no,
                "public_key_id": self.wechat_public_key_id,
                "private_key": self.wechat_merchant_private_key,
                "public_key": self.wechat_platform_public_key,
                "api_v3_key": self.wechat_api_v3_key,
            }
        raise LookupError(f"no demo keys for payment channel {channel!r}")


def _keypair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def generate_keys(directory: Path) -> None:
    """Write a fresh set of demo keys and ids into ``directory`` (which must not exist yet)."""
    directory.mkdir(mode=0o700, parents=False)
    material: dict[str, str] = {}
    for prefix in ("alipay_app", "alipay_platform", "wechat_merchant", "wechat_platform"):
        material[f"{prefix}_private_key"], material[f"{prefix}_public_key"] = _keypair()
    alphabet = string.ascii_letters + string.digits
    material["wechat_api_v3_key"] = "".join(secrets.choice(alphabet) for _ in range(32))
    for name, filename in _PEM_FILES.items():
        _write_private(directory / filename, material[name])
    ids = {
        "alipay_app_id": "20210" + _digits(11),
        "wechat_mch_id": "19" + _digits(8),
        "wechat_app_id": "wx" + secrets.token_hex(8),
        "wechat_merchant_serial_no": secrets.token_hex(20).upper(),
        "wechat_public_key_id": "PUB_KEY_ID_" + _digits(28),
    }
    _write_private(directory / _IDS_FILE, json.dumps(ids, indent=2))


def load_keys(directory: Path) -> DemoKeys:
    ids = json.loads((directory / _IDS_FILE).read_text(encoding="utf-8"))
    texts = {name: (directory / filename).read_text(encoding="utf-8") for name, filename in _PEM_FILES.items()}
    return DemoKeys(directory=directory, **ids, **texts)


def ensure_keys(directory: Path | str) -> DemoKeys:
    """Load the keys in ``directory``, generating them first if there are none.

    Several processes may start at once (web, worker, simulator): the set is built in a sibling temporary
    directory and renamed into place, so every process ends up with the same complete set.
    """
    target = Path(directory)
    if not (target / _IDS_FILE).exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".channel-keys-", dir=target.parent))
        try:
            generate_keys(staging / "keys")
            try:
                os.rename(staging / "keys", target)
            except OSError:
                if not (target / _IDS_FILE).exists():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return load_keys(target)
