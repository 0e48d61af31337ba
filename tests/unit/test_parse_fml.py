"""fml list-server notices: a refused post is a bounce, an ordinary list post is not."""

from __future__ import annotations

from ndrtrack.model import MessageKind
from ndrtrack.parse.decode import decode_bytes

_HEAD = (
    "From: list-admin@example.org\n"
    "To: poster@example.net\n"
    "Subject: {subject}\n"
    "X-MLServer: fml [fml 4.0.3 release (20011202/4.0.3)]\n"
    "Content-Type: text/plain\n\n"
)
_QUOTED = (
    "Original mail as follows:\n\n"
    "   From: poster@example.net\n"
    "   To: list@example.org\n"
    "   Subject: hello\n"
    "   Message-ID: <post-1@example.net>\n\n"
    "   hello\n"
)


def _decode(subject: str, body: str) -> object:
    return decode_bytes((_HEAD.format(subject=subject) + body).encode())


def test_a_non_member_post_is_refused_for_the_list_address() -> None:
    bounce = _decode(
        "NOT MEMBER article from poster@example.net (list ML)",
        "<list@example.org> ML: you are not a member of this mailing list.\n\n" + _QUOTED,
    )
    assert bounce.format == "fml"
    [status] = bounce.statuses
    assert (status.recipient, status.reason, status.permanent) == (
        "list@example.org",
        "rejected",
        False,
    )
    assert bounce.original.message_id == "<post-1@example.net>"


def test_a_loop_guard_is_the_list_system_refusing() -> None:
    bounce = _decode(
        "Loop Alert: Duplicated Message-ID (list ML)",
        "Duplicated Message-ID in <list@example.org>.\n\n\n" + _QUOTED,
    )
    assert [s.reason for s in bounce.statuses] == ["systemerror"]


def test_an_ordinary_list_post_is_not_a_bounce() -> None:
    bounce = _decode(
        "[list:00042] system error on my laptop",
        "Hi <list@example.org>, I got an internal error today.\n",
    )
    assert bounce.kind is MessageKind.NOT_A_BOUNCE
    assert not bounce.statuses
