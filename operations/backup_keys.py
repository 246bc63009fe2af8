"""The keys of backups: the manifest's signature (HMAC-SHA256) and the files' encryption (AES-256-GCM).

A key is 32 random bytes written as URL-safe base64 (``manage.py backup_key FILE`` makes one). The
signing key comes from ``BACKUP_SIGNING_KEY``, the key itself or the path of a file that holds it;
it is kept outside the backup and outside the database, so that whoever can change a backup or the
database cannot sign one. Each key has an id (a digest of the key, which tells nothing of it): the
signing key's id is the installation's id, written into every manifest, so that a backup of another
installation is told apart from a tampered one.

Files are encrypted one by one with a streaming AES-256-GCM (``cryptography``'s ``Cipher``): a magic
header, a random 96-bit nonce, the ciphertext and the 128-bit tag, with the file's path inside the
backup as associated data, so that a file moved to another name does not decrypt. What is decrypted
is written to a temporary file and kept only once the tag checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac as stdlib_hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings

KEY_BYTES = 32
SIGNATURE_ALGORITHM = "HMAC-SHA256"
ENCRYPTION_ALGORITHM = "AES-256-GCM"
MAGIC = b"DTBKENC1"
NONCE_BYTES = 12
TAG_BYTES = 16
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup cannot be made, or a folder is not a backup this code can restore (the message says why).

    Defined here, at the bottom of the backup modules, so that a bad key is one more such error."""


def key_new(path: Path) -> str:
    """Write a new random key into ``path`` (a new file, mode 0600); returns its id."""
    key = secrets.token_bytes(KEY_BYTES)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise BackupError(f"{path} already exists: a key is never overwritten, write the new one elsewhere.") from exc
    except OSError as exc:
        raise BackupError(f"Cannot write {path}: {exc.strerror}.") from exc
    with os.fdopen(descriptor, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(base64.urlsafe_b64encode(key).decode() + "\n")
    return key_id(key)


def key_parse(text: str, *, source: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise BackupError(f"{source} is not a backup key (base64); make one with `manage.py backup_key`.") from exc
    if len(key) != KEY_BYTES:
        raise BackupError(f"{source} is not a backup key: it must hold {KEY_BYTES} bytes, it holds {len(key)}.")
    return key


def key_read(path: Path) -> bytes:
    """The key in the file ``path``."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupError(f"Cannot read the key file {path}.") from exc
    return key_parse(text, source=f"The key file {path}")


def key_id(key: bytes) -> str:
    """A public name of the key: the same key, the same id; the id tells nothing of the key."""
    return hashlib.sha256(b"dermatrack backup key id\0" + key).hexdigest()[:32]


def signing_key() -> bytes:
    """This installation's signing key, from ``BACKUP_SIGNING_KEY`` (the key, or a file that holds it)."""
    value = str(getattr(settings, "BACKUP_SIGNING_KEY", "") or "").strip()
    if not value:
        raise BackupError(
            "BACKUP_SIGNING_KEY is not set: make a key with `manage.py backup_key FILE`, keep it off the "
            "backups and the database, and point BACKUP_SIGNING_KEY at the file (see README, Backups)."
        )
    if Path(value).is_file():
        return key_read(Path(value))
    if os.sep in value or value.endswith(".key"):
        raise BackupError(f"BACKUP_SIGNING_KEY names the file {value}, which does not exist.")
    return key_parse(value, source="BACKUP_SIGNING_KEY")


# --- signature -------------------------------------------------------------------------------


def canonical(document: dict[str, Any]) -> bytes:
    """The bytes that are signed: the manifest but its signature, in one fixed JSON form."""
    unsigned = {name: value for name, value in document.items() if name != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(document: dict[str, Any], key: bytes) -> str:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(canonical(document))
    return mac.finalize().hex()


def signature_valid(document: dict[str, Any], key: bytes) -> bool:
    try:
        expected = bytes.fromhex(str(document.get("signature", "")))
    except ValueError:
        return False
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(canonical(document))
    try:
        mac.verify(expected)  # constant time
    except InvalidSignature:
        return False
    return True


def same_id(one: str, other: str) -> bool:
    return stdlib_hmac.compare_digest(one.encode(), other.encode())


# --- encryption ------------------------------------------------------------------------------


def encrypt_file(source: Path, target: Path, *, key: bytes, name: str) -> None:
    """Write ``source`` encrypted into ``target`` (mode 0600), ``name`` bound to it as associated data."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(name.encode())
    with source.open("rb") as src, private_file(target) as dst:
        dst.write(MAGIC + nonce)
        while chunk := src.read(CHUNK):
            dst.write(encryptor.update(chunk))
        dst.write(encryptor.finalize())
        dst.write(encryptor.tag)


def decrypt_file(source: Path, target: Path, *, key: bytes, name: str) -> str:
    """Decrypt ``source`` into ``target`` (mode 0600) once its tag checked; returns the plain sha256."""
    size = source.stat().st_size
    if size < len(MAGIC) + NONCE_BYTES + TAG_BYTES:
        raise InvalidTag(name)
    digest = hashlib.sha256()
    temporary = target.with_name(target.name + ".decrypting")
    with source.open("rb") as src:
        if src.read(len(MAGIC)) != MAGIC:
            raise InvalidTag(name)
        nonce = src.read(NONCE_BYTES)
        src.seek(size - TAG_BYTES)
        tag = src.read(TAG_BYTES)
        src.seek(len(MAGIC) + NONCE_BYTES)
        decryptor = Cipher(algorithms.AES(key), modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(name.encode())
        left = size - len(MAGIC) - NONCE_BYTES - TAG_BYTES
        try:
            with private_file(temporary) as dst:
                while left > 0:
                    chunk = src.read(min(CHUNK, left))
                    left -= len(chunk)
                    plain = decryptor.update(chunk)
                    digest.update(plain)
                    dst.write(plain)
                dst.write(decryptor.finalize())  # raises InvalidTag: then nothing is kept
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    os.replace(temporary, target)
    return digest.hexdigest()


def private_file(path: Path) -> Any:
    """``path`` opened for writing, created (or truncated) with mode 0600 whatever the umask."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    return os.fdopen(descriptor, "wb")
