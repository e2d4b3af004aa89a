"""One rule for e-mail addresses (input_rules.email_address), checked against the `idna` package's
own IDNA 2008 / UTS #46 encoding and Python's Unicode database as independent references."""

from __future__ import annotations

import unicodedata

import idna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaflow.errors import InvalidInput
from ketaflow.input_rules import email_address, email_lookup_key


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  Nurse.One@Clinic.ORG ", "nurse.one@clinic.org"),
        ("ｎｕｒｓｅ@ｃｌｉｎｉｃ.org", "nurse@clinic.org"),  # full-width letters (NFKC)
        ("anna@Bücher.example", "anna@xn--bcher-kva.example"),
        ("anna@xn--bcher-kva.example", "anna@xn--bcher-kva.example"),
        ("anna@bücher.example.", "anna@xn--bcher-kva.example"),  # the root's trailing dot
        ("josé@clinic.org", "josé@clinic.org"),  # an international local part is kept (RFC 6531)
        ("dr_smith@mail_relay.clinic.org", "dr_smith@mail_relay.clinic.org"),
    ],
)
def test_one_normal_form(typed: str, stored: str) -> None:
    assert email_address(typed) == stored
    assert email_lookup_key(typed) == stored
    assert email_address(stored) == stored  # the normal form is its own normal form


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "nurse",
        "nurse@clinic",
        "@clinic.org",
        "nurse one@clinic.org",
        "nurse\u200b@clinic.org",
        "nurse@clinic\u200b.org",
        "\u202enurse@clinic.org",
        "n\u0430rse@clinic.org",  # Cyrillic a among Latin letters
        "nurse@clinic..org",
        "nurse@-clinic.org",
        "nurse@" + "c" * 64 + ".org",
        "n" * 65 + "@clinic.org",
        "nurse@" + ".".join(["c" * 60] * 5) + ".org",  # over 254 characters
        "nurse@exa mple.org",
    ],
)
def test_refused_with_a_sentence_for_the_email_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        email_address(bad)
    assert caught.value.field == "email" and caught.value.message.endswith((".", ")"))
    # Looking up never refuses: text no account can have is simply an unknown address.
    assert email_lookup_key(bad) == unicodedata.normalize("NFKC", bad).strip().lower()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    local=st.from_regex(r"[a-zA-Z0-9._+-]{1,20}", fullmatch=True),
    labels=st.lists(
        st.text(
            alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzäöüßéçñ0123456789"), min_size=1, max_size=12
        ),
        min_size=2,
        max_size=4,
    ),
)
def test_domains_agree_with_the_idna_package(local: str, labels: list[str]) -> None:
    domain = ".".join(labels)
    try:
        expected = idna.encode(domain, uts46=True).decode()
    except idna.IDNAError:
        with pytest.raises(InvalidInput):
            email_address(f"{local}@{domain}")
        return
    assert email_address(f"{local}@{domain}") == f"{local.lower()}@{expected}"
    if "ß" not in domain:  # "ß".upper() is "SS", another domain
        assert email_address(f"{local.upper()}@{domain.upper()}") == f"{local.lower()}@{expected}"


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(
    local=st.text(min_size=0, max_size=30),
    domain=st.text(min_size=0, max_size=70),
)
def test_any_text_is_an_address_or_a_sentence_never_a_crash(local: str, domain: str) -> None:
    for typed in (f"{local}@{domain}", f"{local}@{domain}.org", local):
        try:
            stored = email_address(typed)
        except InvalidInput as exc:
            assert exc.field == "email" and exc.message
            continue
        assert stored.rpartition("@")[2].isascii() and stored == stored.lower()
        assert email_address(stored) == stored and len(stored) <= 254
