"""Config checks for the mailbox sources: mistakes that would store messages twice, or fail
only at the first login, are reported at start-up as ``FILE: key.path: reason``."""

from __future__ import annotations

import pytest

from ndrtrack.config import parse_config
from ndrtrack.errors import ConfigError


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "t.yaml")
    return caught.value.problems


def test_a_good_mailbox_config_loads(tmp_path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    config = parse_config(f"""
intake:
  maildirs: [{{path: /var/mail/a}}, {{path: /var/mail/b, after: delete}}]
  imap:
    - {{host: imap.example.net, username: u, password_file: {secret}, security: starttls,
       port: 143, after: flag}}
""")
    assert [m.after for m in config.intake.maildirs] == ["move", "delete"]
    assert config.intake.imap[0].password == "s3cret"


def test_each_mailbox_mistake_has_its_line() -> None:
    lines = problems("""
intake:
  maildirs: [{path: /var/mail/a}, {path: /var/mail/a/}]
  imap:
    - {host: imap.example.net, username: u, password: p, after: move, move_to: INBOX}
    - {host: IMAP.example.net, username: u, password: p}
    - {host: other.example.net, username: u}
""")
    assert lines == [
        "t.yaml: intake.maildirs[1].path: /var/mail/a/ is listed twice",
        "t.yaml: intake.imap[0].move_to: must differ from folder",
        "t.yaml: intake.imap[1]: u@IMAP.example.net:993/INBOX is listed twice",
        "t.yaml: intake.imap[2].password: required (password or password_file)",
    ]
