"""Settings from the environment: good values are kept, bad ones are one sentence naming the variable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ketaflow.errors import InvalidInput
from ketaflow.settings import get_settings


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://care.example.org/", "https://care.example.org"),
        ("  https://care.example.org/ketaflow/  ", "https://care.example.org/ketaflow"),
        ("http://10.0.0.5:8000", "http://10.0.0.5:8000"),
        ("", None),
    ],
)
def test_a_public_address_is_kept_without_its_last_slash(
    monkeypatch: pytest.MonkeyPatch, given: str, kept: str | None
) -> None:
    monkeypatch.setenv("KETAFLOW_PUBLIC_URL", given)
    assert get_settings().public_url == kept


@pytest.mark.parametrize(
    "given", ["care.example.org", "ftp://care.example.org", "https://", "https://care.example.org/?a=1"]
)
def test_a_public_address_patients_could_not_open_is_refused(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv("KETAFLOW_PUBLIC_URL", given)
    with pytest.raises(InvalidInput) as refused:
        get_settings()
    message = str(refused.value)
    assert message.startswith("KETAFLOW_PUBLIC_URL must be the address patients reach this server by")
    assert repr(given) in message and "\n" not in message


def test_another_bad_setting_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETAFLOW_PORT", "eighty")
    with pytest.raises(InvalidInput, match=r"^KETAFLOW_PORT: .*integer.* \(got 'eighty'\)\.$"):
        get_settings()
