"""Signatures and encryption as both gateways use them, built on ``cryptography`` alone."""

from __future__ import annotations

import base64
import binascii
import functools

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


@functools.lru_cache(maxsize=16)
def private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("an RSA private key is required")
    return key


@functools.lru_cache(maxsize=16)
def public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("an RSA public key is required")
    return key


def rsa_sign(private_pem: str, message: str) -> str:
    """SHA256withRSA (PKCS#1 v1.5), base64: Alipay's RSA2 and WeChat Pay's WECHATPAY2-SHA256-RSA2048."""
    signature = private_key(private_pem).sign(message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa_verify(public_pem: str, message: str, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        public_key(public_pem).verify(signature, message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def aes_gcm_encrypt(api_v3_key: str, nonce: str, plaintext: str, associated_data: str) -> str:
    """WeChat Pay's AEAD_AES_256_GCM resource encryption (the key is the 32-byte API v3 key)."""
    sealed = AESGCM(api_v3_key.encode("utf-8")).encrypt(
        nonce.encode("utf-8"), plaintext.encode("utf-8"), associated_data.encode("utf-8")
    )
    return base64.b64encode(sealed).decode("ascii")


def corrupt(signature_b64: str) -> str:
    """A well-formed signature that does not verify (for the forged-answer fault)."""
    raw = bytearray(base64.b64decode(signature_b64))
    raw[len(raw) // 2] ^= 0xFF
    return base64.b64encode(bytes(raw)).decode("ascii")
