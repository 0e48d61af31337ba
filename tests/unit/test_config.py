"""Every class of configuration mistake produces its own ``FILE: key.path: reason`` line."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest

from ndrtrack.config import Config, load_config, parse_config
from ndrtrack.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "ndrtrack.yaml"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "t.yaml")
    return info.value.problems


def test_example_config_is_valid_and_complete() -> None:
    config = load_config(EXAMPLE)
    assert config.intake.smtp.host == "127.0.0.1" and config.intake.smtp.port == 2525
    assert config.http.port == 9425
    assert config.store.type == "sqlite" and config.store.path.startswith("var/")
    assert config.spool.path.startswith("var/")


def _field_names(cls: type) -> list[str]:
    names = []
    for f in dataclasses.fields(cls):
        names.append(f.name)
        hint = typing.get_type_hints(cls)[f.name]
        inner = typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else hint
        if dataclasses.is_dataclass(inner):
            names.extend(_field_names(inner))
    return names


def test_example_config_documents_every_key() -> None:
    """Each field appears in the example, as a key or a commented-out key."""
    text = EXAMPLE.read_text()
    missing = [n for n in _field_names(Config)
               if n != "source" and f"{n}:" not in text and f"{n}_file:" not in text]
    assert missing == []


def test_empty_file_gives_defaults() -> None:
    assert parse_config("", "t.yaml").intake.addresses


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bogus: 1", "t.yaml: bogus: unknown key"),
        ("intake: {smtp: {prot: 25}}", "t.yaml: intake.smtp.prot: unknown key"),
        ("intake: {smtp: {port: 70000}}", "t.yaml: intake.smtp.port: expected a port number"),
        ("http: {port: abc}", "t.yaml: http.port: expected an integer, got str 'abc'"),
        ("http: {enabled: maybe}", "t.yaml: http.enabled: expected true or false"),
        ("intake: {smtp: {host: localhost}}", "t.yaml: intake.smtp.host: not an IP address"),
        ("intake: {addresses: [nobody]}", "t.yaml: intake.addresses: not an email address"),
        ("store: {type: mysql}", "t.yaml: store.type: expected one of sqlite"),
        ("intake: {smtp: {tls_cert_file: /nonexistent/cert.pem, tls_key_file: /nonexistent/k}}",
         "t.yaml: intake.smtp.tls_cert_file: file not found: /nonexistent/cert.pem"),
        ("intake: {imap: [{host: imap.example.net}]}",
         "t.yaml: intake.imap[0].username: required key is missing"),
        ("intake: {imap: [{host: h, username: u, password_file: /nonexistent/pw}]}",
         "t.yaml: intake.imap[0].password_file: cannot read secret file /nonexistent/pw"),
        ("intake: {imap: [{host: h, username: u, after: archive}]}",
         "t.yaml: intake.imap[0].after: expected one of flag, move, delete"),
        ("intake: {lmtp: {enabled: true, port: 2525}}",
         "t.yaml: intake.lmtp.port: same address as intake.smtp"),
        ("site: {networks: [10.0.0.0/33]}", "t.yaml: site.networks: not an IP network"),
        ("runner: {max_tries: 0}", "t.yaml: runner.max_tries: expected a number greater than 0"),
        ("intake: [1, 2]", "t.yaml: intake: expected a mapping, got list"),
        ("dns: {nameservers: {a: 1}}", "t.yaml: dns.nameservers: expected a list"),
        ("intake: {smtp: {port: [}", "t.yaml: (yaml): line 1"),
    ],
)
def test_each_mistake_names_key_path_and_reason(text: str, expected: str) -> None:
    found = problems(text)
    assert any(line.startswith(expected) for line in found), found


def test_all_problems_are_reported_at_once() -> None:
    found = problems("bogus: 1\nhttp: {port: x}\nstore: {type: y}\n")
    assert len(found) == 3


def test_secret_is_read_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    config = parse_config(f"intake: {{imap: [{{host: h, username: u, password_file: {secret}}}]}}")
    assert config.intake.imap[0].password == "s3cret"


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "none.yaml")
    assert info.value.problems == [f"{tmp_path / 'none.yaml'}: (file): not found"]
