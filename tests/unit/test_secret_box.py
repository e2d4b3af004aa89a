"""Sealing secrets at rest (ketaflow/secret_box.py): AES-256-GCM round trips, refusals, and where
the key comes from (the setting, else a key file made once, owner-only, in the data directory)."""

from __future__ import annotations

import base64
import os
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ketaflow import secret_box
from ketaflow.errors import InvalidInput
from ketaflow.settings import get_settings


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    def use(**values: str | None) -> None:
        for name, value in values.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield use
    monkeypatch.undo()
    get_settings.cache_clear()


def test_a_sealed_value_opens_only_with_its_key_and_its_context(env: Callable[..., None]) -> None:
    first = _key()
    env(KETAFLOW_SECRET_KEY=first)
    sealed = secret_box.seal("JBSWY3DPEHPK3PXP", context="user 1")
    assert sealed != secret_box.seal("JBSWY3DPEHPK3PXP", context="user 1")  # a fresh nonce each time
    assert "JBSWY3DPEHPK3PXP" not in sealed and sealed.startswith("k1.")
    assert secret_box.open_sealed(sealed, context="user 1") == "JBSWY3DPEHPK3PXP"
    # Independent reference: the cryptography library's AES-GCM opens it with the key and context.
    raw = base64.urlsafe_b64decode(sealed.split(".")[2] + "==")
    key = base64.urlsafe_b64decode(first)
    assert AESGCM(key).decrypt(raw[:12], raw[12:], b"user 1") == b"JBSWY3DPEHPK3PXP"
    with pytest.raises(secret_box.SealBroken):
        secret_box.open_sealed(sealed, context="user 2")  # copied onto another account
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(secret_box.SealBroken):
        secret_box.open_sealed(tampered, context="user 1")
    env(KETAFLOW_SECRET_KEY=_key())
    with pytest.raises(secret_box.SealBroken):
        secret_box.open_sealed(sealed, context="user 1")
    env(KETAFLOW_SECRET_KEY=f"{_key()},{first}")  # rotation: the old key still opens, the new one seals
    assert secret_box.open_sealed(sealed, context="user 1") == "JBSWY3DPEHPK3PXP"
    assert not secret_box.sealed_with_current_key(sealed)
    assert secret_box.sealed_with_current_key(secret_box.seal("x", context="c"))


def test_without_the_setting_a_key_file_is_made_once_for_the_owner_only(
    env: Callable[..., None], tmp_path: Path
) -> None:
    env(KETAFLOW_SECRET_KEY=None, KETAFLOW_DATA_DIR=str(tmp_path / "data"))
    sealed = secret_box.seal("secret", context="c")
    path = tmp_path / "data" / "secret.key"
    assert path.is_file()
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    made = path.read_text()
    secret_box._keys.cache_clear()
    assert secret_box.open_sealed(sealed, context="c") == "secret" and path.read_text() == made
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temporary file left


def test_servers_starting_at_once_end_up_with_one_key(env: Callable[..., None], tmp_path: Path) -> None:
    env(KETAFLOW_SECRET_KEY=None)
    path = tmp_path / "secret.key"
    texts: list[str] = []
    start = threading.Barrier(8)

    def first_use() -> None:
        start.wait()
        texts.append(secret_box._key_file(path))

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(texts) == 8 and len(set(texts)) == 1 and texts[0] == path.read_text()


def test_a_bad_key_setting_names_the_variable(env: Callable[..., None]) -> None:
    for bad in ("short", base64.urlsafe_b64encode(b"x" * 16).decode(), f"{_key()},not a key"):
        env(KETAFLOW_SECRET_KEY=bad)
        with pytest.raises(InvalidInput, match="KETAFLOW_SECRET_KEY must hold keys of 32 random bytes"):
            get_settings()
    good = _key()
    env(KETAFLOW_SECRET_KEY=good)
    held = get_settings().secret_key
    assert held is not None and held.get_secret_value() == good and good not in repr(get_settings())


def test_a_data_directory_that_cannot_hold_the_key_says_what_to_set(
    env: Callable[..., None], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env(KETAFLOW_SECRET_KEY=None, KETAFLOW_DATA_DIR=str(blocker / "data"))
    with pytest.raises(secret_box.KetaflowError, match="set KETAFLOW_SECRET_KEY"):
        secret_box.seal("secret", context="c")
