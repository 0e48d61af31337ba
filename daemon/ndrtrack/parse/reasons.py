"""Classify one delivery status into the design's reason names, and say if it is permanent.

Classification is a separate step after decoding, so every format gets the same rules.  The
evidence is tried from the most to the least specific:

1. codes that mean exactly one thing (``5.1.1`` a bad mailbox, ``5.7.26`` a DMARC failure,
   Microsoft's ``5.7.509``…) — RFC 3463/5248 and the providers' published codes;
2. provider rules, chosen by the remote MTA's host name suffix (a Google or Microsoft
   server words the same code its own way);
3. the diagnostic text, matched against phrase rules written from RFC 5321/3463 wording and
   the MTA families' stock messages ("User unknown", "Relay access denied", "retry timeout
   exceeded"…), in a deliberate order (more specific reasons first);
4. the rest of the status code (class.subject.detail) table;
5. the bare reply code (also beside a vague x.0.0 status, when the reply names a cause).

When only the generic tables (4, 5) decided, the SMTP command the refusal answered says
more: at MAIL FROM the sender was refused (rejected), at the greeting or HELO/EHLO the
client host (blocked); a stock "no such user" outside RCPT TO is a filter's answer.

"Permanent" means that sending again will not help without a change of address: the
address or its domain does not exist, has moved, or refuses all mail (and the failure was
not a temporary ``4.x.x``).  A full mailbox or a spam block is a hard failure in SMTP terms
but not a bad address, so it is not "permanent" here.
"""

from __future__ import annotations

import re

from ndrtrack.model import Reason
from ndrtrack.parse.extract import remote_host
from ndrtrack.parse.gate import (
    AllGate,
    LiteralFinder,
    Requirements,
    all_gate_open,
    alternatives_met,
    gate_all,
    gate_literal_set,
    lowered,
    word_start_first,
)

R = Reason

# 1. Codes whose meaning does not depend on the text around them.
EXACT_STATUS: dict[str, Reason] = {
    "1.1": R.USERUNKNOWN,
    "1.2": R.HOSTUNKNOWN,
    "1.6": R.HASMOVED,
    "2.2": R.MAILBOXFULL,
    "3.4": R.MESGTOOBIG,
    "2.3": R.EXCEEDLIMIT,
    "7.25": R.REQUIREPTR,
    "7.26": R.AUTHFAILURE,
    "7.27": R.NOTACCEPT,
    "7.20": R.AUTHFAILURE,
    "7.21": R.AUTHFAILURE,
    "7.22": R.AUTHFAILURE,
    "7.23": R.AUTHFAILURE,
    "7.24": R.AUTHFAILURE,
    "7.29": R.AUTHFAILURE,
    "7.509": R.AUTHFAILURE,
    "7.510": R.BLOCKED,
    "7.511": R.BLOCKED,
    "7.606": R.BLOCKED,
    "7.708": R.BADREPUTATION,
    "7.750": R.BLOCKED,
    "4.7": R.EXPIRED,
}


# Orange / Wanadoo / La Poste end every refusal with a reference such as ``OFR005_505``,
# ``ofr_506`` or ``LPN007_416``; the three digits after the underscore are the published
# error number, the same whatever the SMTP code or language around it.
def _orange(numbers: str) -> re.Pattern[str]:
    return re.compile(rf"\b(?:OFR|LPN|OUK)\d*_(?:{numbers})\b", re.I)


_ORANGE_RULES: tuple[tuple[re.Pattern[str], Reason], ...] = (
    (_orange("102|510|999"), R.BLOCKED),  # sending IP blocked (spam incidents, reputation)
    (_orange("104"), R.TOOMANYCONN),
    (_orange("416|418"), R.USERUNKNOWN),  # invalid recipient
    (_orange("417"), R.MAILBOXFULL),
    (_orange("420|426"), R.SUSPEND),  # recipient account blocked/closed
    (_orange("505"), R.SYSTEMERROR),  # "Service refused, please try later" (their side)
    (_orange("506"), R.SPAMDETECTED),  # "Mail rejete. Mail rejected"
    (_orange("514"), R.MESGTOOBIG),
    (_orange("517"), R.AUTHFAILURE),  # DMARC verification failed
    (re.compile(r"Mail rejete", re.I), R.SPAMDETECTED),
)

# KDDI (au, ezweb) answers "550 <addr>: User unknown" for a missing mailbox but
# "550 : User unknown" — the address slot left empty — when the recipient's own reception
# filter (designated domains, spoofing refusal) turned the message away.
# ezweb's own notice words the same refusal "Each of the following recipients was rejected
# by a remote mail server." (its other stock sentences name their cause).
_KDDI_RULES: tuple[tuple[re.Pattern[str], Reason], ...] = (
    (re.compile(r"\b5\d\d:?\s*:\s*user unknown", re.I), R.FILTERED),
    (re.compile(r"recipients? was rejected by a remote mail server", re.I), R.FILTERED),
    (re.compile(r"user unknown", re.I), R.USERUNKNOWN),
)

# 2. Provider rules: (remote MTA suffix, [(pattern, reason)]).
PROVIDER_RULES: tuple[tuple[str, tuple[tuple[re.Pattern[str], Reason], ...]], ...] = (
    (
        "google.com",
        (
            # "552-5.7.0 This message was blocked because its content presents a potential
            # security issue" (?p=BlockedMessage): Gmail's attachment/link policy.
            (
                re.compile(r"blocked because its content|BlockedMessage", re.I),
                R.POLICYVIOLATION,
            ),
            (
                re.compile(
                    r"DmarcRejection|DMARC policy|not pass authentication|"
                    r"(?:SPF|DKIM) .{0,30}(?:fail|did not pass)",
                    re.I,
                ),
                R.AUTHFAILURE,
            ),
            (re.compile(r"\bOverQuota|out of storage|inbox is out", re.I), R.MAILBOXFULL),
            (re.compile(r"NoSuchUser|does not exist", re.I), R.USERUNKNOWN),
            (re.compile(r"UnsolicitedMessageError|likely unsolicited", re.I), R.SPAMDETECTED),
            (re.compile(r"IPTS0|low reputation", re.I), R.BLOCKED),
            (
                re.compile(r"rate (?:that|limit)|unusual rate|Receiving mail at a rate", re.I),
                R.SPEEDING,
            ),
            (re.compile(r"account (?:has been )?disabled|DisabledUser", re.I), R.SUSPEND),
        ),
    ),
    (
        "outlook.com",
        (
            (re.compile(r"Access denied, banned sender|\bbanned\b", re.I), R.BLOCKED),
            (
                re.compile(
                    r"RecipientNotFound|Recipient not found|not found by SMTP address lookup", re.I
                ),
                R.USERUNKNOWN,
            ),
            (re.compile(r"\bS3150\b|\bS3140\b|block list|blocklist", re.I), R.BLOCKED),
        ),
    ),
    ("facebook.com", ((re.compile(r"\bRCP-P\d|recipient preferences", re.I), R.FILTERED),)),
    ("ezweb.ne.jp", _KDDI_RULES),
    ("au.com", _KDDI_RULES),
    ("orange.fr", _ORANGE_RULES),
    ("wanadoo.fr", _ORANGE_RULES),
    ("laposte.net", _ORANGE_RULES),
    # Mimecast's documented 554 for a signature hit (anti-virus, or spam over the threshold).
    ("mimecast.com", ((re.compile(r"rejected due to security polic", re.I), R.VIRUSDETECTED),)),
    # SES submission refuses to send as an identity the account has not verified: the
    # sender may not relay through SES ("Email address is not verified. The following
    # identities failed the check in region ...").
    (
        "amazonaws.com",
        (
            (
                re.compile(r"address is not verified|identities failed the check", re.I),
                R.NORELAYING,
            ),
        ),
    ),
    ("yahoo.com", ((re.compile(r"doesn'?t have a .{0,40} account", re.I), R.USERUNKNOWN),)),
    (
        "yahoodns.net",
        (
            (re.compile(r"\[TSS04\]|user complaints", re.I), R.BADREPUTATION),
            (re.compile(r"\[TSS\d+\]|temporarily deferred|unusual traffic", re.I), R.BLOCKED),
            (re.compile(r"\bPH\d+\b|policy", re.I), R.POLICYVIOLATION),
        ),
    ),
)

# Provider rules that also depend on the command the refusal answered:
# (suffix, command, pattern, reason).  NTT docomo answers "550 Unknown user" both for a
# missing mailbox (at RCPT TO) and, after DATA, when the recipient's reception settings
# (designated/refused sender domains) turned the *sender* away.
PROVIDER_COMMAND_RULES: tuple[tuple[str, str, re.Pattern[str], Reason], ...] = (
    ("docomo.ne.jp", "DATA", re.compile(r"unknown user|user unknown", re.I), R.REJECTED),
)

# 3. Phrase rules over the diagnostic text, specific reasons first.
_TEXT_RULES: tuple[tuple[Reason, str], ...] = (
    # A URI blocklist (SURBL, URIBL, Spamhaus DBL) lists a link in the message body: a
    # verdict on the content, not on the sending host.
    (
        R.SPAMDETECTED,
        r"black ?listed (?:url|uri|link|domain)s? in (?:the )?(?:message|body|content)|"
        r"\bsurbl\b|\buribl\b",
    ),
    # A blocklisted *address* (sender or recipient) is an envelope refusal, not an IP block.
    (
        R.REJECTED,
        r"(?<!ip )(?<!ip-)(?:e-?mail )?address (?:that )?(?:has been |is )?black ?listed|"
        r"(?:sender|from) address (?:is |has been )?black ?listed",
    ),
    # The message may not be relayed *because the client did not authenticate*: the fix is
    # SMTP AUTH, not the relay table.
    (
        R.SECURITYERROR,
        r"turn on smtp authentication|relay (?:\S+ ){0,3}without authentication|"
        r"authentication (?:is )?required (?:to|for) relay",
    ),
    # cPanel/Exim's summary when every MX failed: "The account or domain may not exist,
    # they may be blacklisted, or missing the proper dns entries." — the first cause named.
    (R.HOSTUNKNOWN, r"(?:account or )?domain may not exist"),
    (
        R.TOOMANYCONN,
        r"too many (?:connections|concurrent|sessions|simultaneous)|connection limit|"
        r"connection frequency|exceeded (?:the )?(?:connection|session) limit",
    ),
    (
        R.BLOCKED,
        r"my name was rejected|client host (?:\S+ )?(?:rejected|blocked)|black ?list|"
        r"spamhaus|spamcop|\bRBL\b|DNSBL|(?<!not )listed (?:in|"
        r"on|at|by) |adresse ip|not accepting connections|"
        r"service refused",
    ),
    (
        R.AUTHFAILURE,
        r"does not have authentication information|"
        r"fails? to pass|\bDMARC\b|\bSPF\b.{0,40}(?:fail|"
        r"check|valid)|\bDKIM\b.{0,40}(?:fail|valid|sign)"
        r"|sender policy framework|not pass authentication|unauthenticated email",
    ),
    (
        R.REQUIREPTR,
        r"reverse DNS|reverse[- ]lookup|\bPTR\b|\brDNS\b|no DNS entry for|"
        r"hostname .{0,40}does not resolve|cannot find your hostname|IP name lookup failed|"
        r"is not resolv|client host .{0,30}unknown|Client host rejected: cannot find|"
        r"unverif(?:y|i)able (?:sending )?ip",
    ),
    (
        R.FAILEDSTARTTLS,
        r"does not support (?:TLS|STARTTLS)|(?:issue|use|send|requires?|failed|after) (?:a )?"
        r"STARTTLS|STARTTLS (?:is )?(?:required|failed|command first|negotiation)|"
        r"TLS (?:is )?required|must use TLS|encryption required|"
        r"TLS negotiation failed|TLS handshake",
    ),
    (R.VIRUSDETECTED, r"\bvirus|malware|infected|\btrojan|worm detected"),
    (
        R.NORELAYING,
        r"relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited|not allowed)|"
        r"not permitted to relay|unable to relay|relay not|we do not relay|no relaying|"
        r"open relay|not a gateway|not local host|relaying (?:mail )?to .{0,40}(?:denied|not)",
    ),
    (
        R.BADREPUTATION,
        r"bad reputation|poor reputation|low reputation|sender reputation|reputation|"
        r"user complaints",
    ),
    (R.POLICYVIOLATION, r"rejected for policy reasons|policy violation|violates? .{0,20}policy"),
    (
        R.REJECTED,
        r"(?:From|sender):? domain is invalid|sender (?:address )?(?:rejected|"
        r"denied|refused|verify failed|verification failed|"
        r"unknown|invalid|blocked)|"
        r"domain of sender address|(?:domain of )?sender (?:address )?(?:domain )?(?:does not|"
        r"must) (?:exist|resolve)|"
        r"envelope sender|mail from .{0,40}(?:rejected|refused|denied)|sender was rejected|"
        r"from address .{0,30}(?:rejected|invalid)|"
        r"return path|bad sender|invalid sender|sender domain|"
        r"unverified sender|your envelope",
    ),
    (
        R.HASMOVED,
        r"has moved|moved to|no longer (?:at|with|uses)|"
        r"address changed|has been replaced by",
    ),
    (
        R.MAILBOXFULL,
        r"mailbox (?:is )?full|recipient'?s mailbox exceeded|"
        r"full mailbox|quota|over ?quota|mailbox size limit|"
        r"exceeded storage|storage (?:allocation|limit|space)|mail ?box (?:is )?(?:too )?full|"
        r"insufficient (?:disk )?space.{0,30}(?:mailbox|"
        r"user)|user'?s? (?:disk|mailbox) .{0,20}full|"
        r"too much mail|out of storage|mailfolder is full|"
        r"exceeds? (?:his|her|its|the)? ?(?:mailbox|"
        r"storage)",
    ),
    (
        R.EXCEEDLIMIT,
        r"exceeds? (?:the )?(?:recipient'?s? )?(?:size|message size) limit for|"
        r"exceed(?:s|ed)? (?:the )?maximum allowed size for",
    ),
    (
        R.MESGTOOBIG,
        r"(?:message|mail|e-?mail|size) (?:is )?too (?:big|"
        r"large)|too large (?:message|mail)|size (?:exceeds|limit)|"
        r"exceeds? (?:the )?(?:maximum )?(?:message )?size|message size|message length exceeds|"
        r"message file too big|body too big",
    ),
    (
        R.SUSPEND,
        r"temporar\w* locked|(?:account|mailbox|user)\S* .{0,20}suspended|"
        r"suspended (?:account|mailbox|user)|\bdisabled|"
        r"inactive|deactivated|not active|account (?:is )?(?:locked|"
        r"closed|expired|frozen)|"
        r"mailbox (?:is )?(?:locked|closed|disabled|inactive|unavailable due)|"
        r"temporarily (?:disabled|unavailable|blocked) .{0,30}(?:user|mailbox|account)|"
        r"account (?:has been )?(?:blocked|terminated)",
    ),
    (
        R.NOTACCEPT,
        r"null MX|no MX (?:record )?(?:found|for)|no mx record|"
        r"couldn'?t find a mail exchanger|"
        r"MX or SRV record indicated no SMTP|does not accept (?:e-?)?mail|"
        r"not accept(?:ing)? (?:any )?(?:e-?)?mail|"
        r"accepts no mail",
    ),
    (R.NETWORKERROR, r"name service error|DNS Error"),
    (
        R.HOSTUNKNOWN,
        r"invalid domain|host (?:or domain name )?not found|"
        r"\bunknown host|domain (?:name )?not found|"
        r"no such domain|domain (?:does not|doesn't) exist|unrouteable address|unroutable address|"
        r"unable to route to domain|no route for|domain is not configured|"
        r"couldn'?t find any host|"
        r"host unknown|name or service not known|non-?existent (?:domain|host)|"
        r"recipient domain .{0,20}(?:invalid|not exist)|"
        r"NXDOMAIN|unknown domain|domain .{0,20}not (?:exist|found)|"
        r"not a valid domain|illegal host",
    ),
    (
        R.USERUNKNOWN,
        r"user (?:is )?unknown|unknown (?:user|recipient|local part|mailbox|address)|"
        r"no such (?:user|mailbox|recipient|address|account|local user|person)|"
        r"(?:user|mailbox|recipient|address|account|addressee)(?: name)? (?:\S+ )?"
        r"(?:does not|doesn'?t|did not) exist|"
        r"(?:recipient|user|mailbox|account|address) (?:was |"
        r"is )?(?:not found|not exist|invalid|unavailable|unknown)|"
        r"invalid (?:recipient|mailbox|user|address|e-?mail address)|not a valid (?:mailbox|user|"
        r"recipient)|"
        r"mailbox (?:not found|unavailable|does not exist|not exist)|no mailbox|"
        r"user not (?:found|exist|local)|recipient (?:address )?rejected: (?:user unknown|"
        r"undeliverable|"
        r"unknown|access denied)|"
        r"unknown or illegal|undeliverable address|no valid recipients|not our customer|"
        r"address (?:is )?(?:not valid|invalid|unknown)|invalid .{0,20}userid|bad (?:destination|"
        r"recipient) (?:mailbox|address)|"
        r"is not a known user|user (?:account )?(?:doesn'?t|"
        r"does not) exist|no account by that name|"
        r"recipient not found|has no mailbox|not listed in|unknown mailbox|"
        r"destination (?:mailbox|address) (?:unknown|invalid)|we do not have a user|"
        r"user doesn'?t have a .{0,20} account|that domain isn'?t in my list of allowed rcpthosts|"
        r"no one by that name|address lookup failed|mailbox name not allowed|invalid (?:address|"
        r"recipient)|"
        r"check if (?:the )?address is correct",
    ),
    (
        R.NOTCOMPLIANTRFC,
        r"\bRFC ?(?:5322|2822|822|5321|2821)|multiple addresses in From|"
        r"not (?:RFC|standard) compliant|"
        r"(?:duplicate|multiple|missing|invalid|malformed|bad) (?:\S+ )?(?:header|message-id|date)|"
        r"header (?:field )?(?:is )?(?:missing|invalid|malformed)|8-?bit(?!mime)|"
        r"bare (?:LF|CR|newline)|line too long|non-compliant",
    ),
    (
        R.SPAMDETECTED,
        r"\bspam(?!haus|cop)|junk ?mail|unsolicited|"
        r"bulk (?:e-?)?mail|content (?:was )?(?:rejected|filter)|"
        r"message (?:looks|considered) like|classified as|identified as|detected as|suspicious|"
        r"scored|high (?:spam )?score|UCE\b|spamassassin|rejected by (?:anti-?spam|content)",
    ),
    (
        R.TOOMANYCONN,
        r"too many (?:connections|concurrent|sessions|simultaneous)|connection limit|"
        r"exceeded (?:the )?(?:connection|session) limit",
    ),
    (
        R.SPEEDING,
        r"rate limit|too many (?:messages|emails|recipients)|sending rate|throttl|"
        r"exceeded (?:the )?(?:rate|message) limit|try again later.{0,20}(?:rate|too many)|"
        r"receiving mail at a rate",
    ),
    (
        R.BLOCKED,
        r"my name was rejected|messages from \[?\d{1,3}(?:\.\d{1,3}){3}|"
        r"block(?:ed|list)|black ?list|\bRBL\b|DNSBL|"
        r"spamhaus|spamcop|barracuda(?:central)?|"
        r"sorbs|listed (?:in|on|at|by)|client host (?:\S+ )?(?:rejected|blocked)|"
        r"\bbanned|not allowed to (?:send|connect)|"
        r"connection (?:rejected|refused) .{0,30}(?:policy|"
        r"ip)|"
        r"your (?:ip|host|server|network)|ip address .{0,40}(?:rejected|not allowed|blocked)|"
        r"rejected (?:because|due to) .{0,30}(?:ip|host|network)|dynamic ip|dial-?up|residential|"
        r"refused to talk to me|mail from .{0,40}refused|\bdenied by policy|"
        r"\bIP\b.{0,30}(?:not permitted|not allowed|rejected)",
    ),
    (
        R.SECURITYERROR,
        r"authentication (?:required|failed|credentials)|"
        r"unauthenticated|\bauth(?:entication)? "
        r"(?:is )?required|must (?:be )?authenticat|not authenticated|password|certificate|"
        r"insecure|encryption",
    ),
    (
        R.POLICYVIOLATION,
        r"\bpolicy|violation|not (?:permitted|allowed) by|prohibited|forbidden|"
        r"header error|restricted|not authori[sz]ed|administrative|denied by",
    ),
    (
        R.CONTENTERROR,
        r"content (?:error|not allowed|type)|conversion|"
        r"invalid (?:character|content|mime)|"
        r"\bmime\b|attachment|encoding",
    ),
    (
        R.FILTERED,
        r"filter|not authorized to receive|does not accept mail from|"
        r"rejected by (?:the )?recipient|refused by (?:the )?recipient|"
        r"recipient (?:has )?(?:refused|rejected)|"
        r"not accept(?:ed)? .{0,20}from",
    ),
    (
        R.SYSTEMFULL,
        r"disk (?:is )?full|insufficient (?:system )?storage|out of (?:disk|memory)|"
        r"system (?:is )?full|no space left",
    ),
    (
        R.MAILERERROR,
        r"mailer error|command (?:died|failed)|exit code|x-unix|procmail|maildrop|"
        r"delivery program|pipe to|unknown mailer|local delivery failed",
    ),
    (
        R.EXPIRED,
        r"retry time(?:out)? (?:not reached|exceeded|expired)|delivery time expired|"
        r"message expired|has expired|expired after|too long in (?:the )?queue|gave up|giving up|"
        r"queue ?(?:time|lifetime|life)|could not be delivered (?:with)?in \d|"
        r"cannot send message for|"
        r"deferred for|undeliverable for|timed? ?out .{0,30}(?:days|hours)|not delivered after|"
        r"message timed out|delivery attempts? (?:failed|expired) for|maximum time|"
        r"has been delayed|was not delivered within|been in the queue|failed \d+ attempts|"
        r"did not accept our requests to connect|aborted after",
    ),
    (
        R.NETWORKERROR,
        r"connection (?:timed out|refused|reset|closed|lost|dropped)|timed? ?out|"
        r"no route to host|network (?:is )?unreachable|name service error|try again|"
        r"temporary (?:failure|error|lookup)|temporarily unavailable|lost connection|"
        r"could not connect|unable to connect|couldn'?t connect|connect to .{0,60}failed|"
        r"malformed (?:or unexpected )?(?:name server )?reply|dns (?:error|failure|lookup)|"
        r"servfail|too many hops|mail loop|loops back|routing loop|"
        r"server not available",
    ),
    (
        R.SYSTEMERROR,
        r"system error|service (?:currently )?unavailable|"
        r"upstream error|internal (?:server )?error|local (?:configuration )?error|"
        r"server error|configuration error|service (?:is )?(?:not available|unavailable)|"
        r"transaction failed|local error|temporary system problem|resources|"
        r"could not (?:create|write|open)|i/o error",
    ),
    (R.ONHOLD, r"\bon hold\b"),
    (
        R.SYNTAXERROR,
        r"syntax error|not implemented|unrecognized command|"
        r"command not (?:recognized|implemented)|"
        r"bad sequence|invalid command|syntax",
    ),
)


# Each pattern runs on the lowercased diagnostic without re.IGNORECASE (about 3x faster on
# these alternations), and only when its conjunctive gate opens: the words some branch
# cannot match without occur in the text (see gate.gate_all; a regex here costs 3-17 µs
# on a diagnostic, a gate well under one).
TEXT_RULES: tuple[tuple[Reason, re.Pattern[str]], ...] = tuple(
    (reason, re.compile(word_start_first(lowered(pattern)))) for reason, pattern in _TEXT_RULES
)
_GATES: tuple[AllGate, ...] = tuple(gate_all(lowered(p)) for _, p in _TEXT_RULES)

# The same gates indexed by literal, for text_reason: the rules each literal opens alone,
# and the rules it opens when their further words occur too (with those alternatives);
# rules without a gate always open.  A diagnostic contains a few of the ~480 literals, so
# the open rules are found from those few instead of by asking each of 25 gates.
_ALWAYS_OPEN = frozenset(index for index, gate in enumerate(_GATES) if not gate)
_OPENS_ALONE: dict[str, frozenset[int]] = {}
_OPENS_WITH: dict[str, tuple[tuple[int, tuple[Requirements, ...]], ...]] = {}


def _index_gates() -> None:
    alone: dict[str, set[int]] = {}
    more: dict[str, list[tuple[int, tuple[Requirements, ...]]]] = {}
    for index, gate in enumerate(_GATES):
        for literal, alternatives in gate:
            if alternatives == ((),):
                alone.setdefault(literal, set()).add(index)
            else:
                more.setdefault(literal, []).append((index, alternatives))
    _OPENS_ALONE.update((literal, frozenset(found)) for literal, found in alone.items())
    _OPENS_WITH.update((literal, tuple(found)) for literal, found in more.items())


_index_gates()

_FULL = re.compile(word_start_first(lowered(dict(_TEXT_RULES)[R.MAILBOXFULL])))
_FULL_GATE = gate_all(_FULL.pattern)
# Every literal the phrase rules' gates ask about, found in one pass per diagnostic that
# reaches them: a diagnostic no early rule matches has most of the gates checked, and one
# "in" test per literal cost up to 325 us on a long one.  (The mailbox-full pre-check runs
# on every diagnostic, often decides nothing further is needed, and keeps its "in" tests.)
_GATE_LITERALS = LiteralFinder(sorted(set().union(*(gate_literal_set(g) for g in _GATES))))

# 4. RFC 3463 subject.detail codes when no phrase decided.
STATUS_TABLE: dict[str, Reason] = {
    "1.0": R.USERUNKNOWN,
    "1.3": R.USERUNKNOWN,
    "1.4": R.USERUNKNOWN,
    "1.5": R.USERUNKNOWN,
    "1.7": R.REJECTED,
    "1.10": R.NOTACCEPT,
    "1.8": R.REJECTED,
    "1.9": R.USERUNKNOWN,
    "2.0": R.USERUNKNOWN,
    "2.1": R.SUSPEND,
    "2.4": R.SYSTEMERROR,
    "3.0": R.SYSTEMERROR,
    "3.1": R.SYSTEMFULL,
    "3.2": R.SYSTEMERROR,
    "3.3": R.SYSTEMERROR,
    "3.5": R.SYSTEMERROR,
    "4.0": R.NETWORKERROR,
    "4.1": R.NETWORKERROR,
    "4.2": R.NETWORKERROR,
    "4.3": R.SYSTEMERROR,
    "4.4": R.NOTACCEPT,
    "4.5": R.SYSTEMFULL,
    "4.6": R.NETWORKERROR,
    "5.0": R.SYNTAXERROR,
    "5.1": R.SYNTAXERROR,
    "5.2": R.SYNTAXERROR,
    "5.3": R.EXCEEDLIMIT,
    "5.4": R.SYNTAXERROR,
    "5.5": R.SYNTAXERROR,
    "6.0": R.CONTENTERROR,
    "6.1": R.CONTENTERROR,
    "6.2": R.CONTENTERROR,
    "6.3": R.CONTENTERROR,
    "6.4": R.CONTENTERROR,
    "6.5": R.CONTENTERROR,
    "7.0": R.SECURITYERROR,
    "7.1": R.SECURITYERROR,
    "7.2": R.SECURITYERROR,
    "7.3": R.SECURITYERROR,
    "7.4": R.SECURITYERROR,
    "7.5": R.SECURITYERROR,
    "7.6": R.SECURITYERROR,
    "7.7": R.SECURITYERROR,
    "7.8": R.SECURITYERROR,
    "7.9": R.POLICYVIOLATION,
    "7.13": R.SUSPEND,
    "7.17": R.HASMOVED,
    "7.18": R.SUSPEND,
    "7.28": R.SPAMDETECTED,
}

# Replies whose RFC 5321 text names no cause ("mailbox unavailable", "transaction failed"):
# beside a vague x.0.0 status they leave the reason open.
_VAGUE_REPLIES = frozenset({"450", "550", "553", "554"})

# 5. Bare reply codes (RFC 5321 §4.2.3).
REPLY_TABLE: dict[str, Reason] = {
    "421": R.SYSTEMERROR,
    "450": R.SYSTEMERROR,
    "451": R.SYSTEMERROR,
    "452": R.SYSTEMFULL,
    "500": R.SYNTAXERROR,
    "501": R.SYNTAXERROR,
    "502": R.SYNTAXERROR,
    "503": R.SYNTAXERROR,
    "504": R.SYNTAXERROR,
    "550": R.USERUNKNOWN,
    "551": R.HASMOVED,
    "552": R.MAILBOXFULL,
    "553": R.USERUNKNOWN,
    "554": R.REJECTED,
    "555": R.SYNTAXERROR,
    "556": R.NOTACCEPT,
}

# When only the generic code tables decided, the command the refusal answered says more:
# a refusal of MAIL FROM is a refusal of the sender, one at the greeting or HELO/EHLO (before
# any address was given) a refusal of the connecting host.
_GENERIC_BY_COMMAND = {"MAIL": R.REJECTED, "CONN": R.BLOCKED, "HELO": R.BLOCKED, "EHLO": R.BLOCKED}
_BY_COMMAND = {
    ("MAIL", R.USERUNKNOWN): R.REJECTED,
    ("MAIL", R.HOSTUNKNOWN): R.REJECTED,
    ("MAIL", R.NETWORKERROR): R.REJECTED,
    ("MAIL", R.ONHOLD): R.REJECTED,
    ("MAIL", R.UNDEFINED): R.REJECTED,
    ("HELO", R.ONHOLD): R.BLOCKED,
    ("EHLO", R.ONHOLD): R.BLOCKED,
}
# Postfix's prefix for any recipient restriction: an address reason only when nothing
# else says more.
_WEAK_USERUNKNOWN = re.compile(r"recipient address rejected|invalid recipient", re.I)
_TIMEOUT = re.compile(r"timed? ?out", re.I)
# The stock "no such user" answers that content filters and list servers also give.
_STOCK_UNKNOWN = re.compile(
    r"user unknown|unknown user|no such user|user not exist|"
    r"doesn'?t have a .{0,40} account|mailbox unavailable",
    re.I,
)


def _filter_answer(status: str, command: str, diagnostic: str) -> bool:
    """A stock "user unknown" that no address status backs, given outside RCPT TO.

    A server that knows the address is bad says so at RCPT TO, with 5.1.1; the same words
    after DATA, or with a status about something else (x.0.0, x.7.x) or none at all, come
    from a filter that refused the message, not from a missing mailbox.
    """
    if command == "RCPT" or not _STOCK_UNKNOWN.search(diagnostic):
        return False
    subject = status.split(".")[1] if status.count(".") == 2 else ""
    if subject == "1":
        return False
    return command == "DATA" or subject in ("", "0", "7")


# A reply code that continues a multi-line reply ("550-5.1.1 ... 550 5.1.1 ..."), after a
# blank; the look-behind follows the first digit so the engine scans for [245] first.
_CONTINUATION = re.compile(r"[245](?<=\s[245])\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3}\s)?")
PERMANENT_REASONS = frozenset({R.USERUNKNOWN, R.HOSTUNKNOWN, R.HASMOVED, R.NOTACCEPT})
_NOT_FAILURES = {"delivered": R.DELIVERED, "relayed": R.DELIVERED, "expanded": R.DELIVERED}


def _subject_detail(status: str) -> str:
    parts = status.split(".")
    return ".".join(parts[1:]) if len(parts) == 3 else ""


def _suffixed(host: str, suffix: str) -> bool:
    return host == suffix or host.endswith("." + suffix)


_SUFFIXES = {suffix for suffix, _ in PROVIDER_RULES} | {s for s, *_ in PROVIDER_COMMAND_RULES}
_DOTTED = tuple("." + suffix for suffix in _SUFFIXES)


def _provider_reason(hosts: tuple[str, ...], diagnostic: str, command: str = "") -> Reason | None:
    """The first provider rule whose suffix matches one of ``hosts`` and whose words match
    (rules bound to the failing command first)."""
    for host in hosts:
        host = host.lower().rstrip(".")
        if not host or not (host in _SUFFIXES or host.endswith(_DOTTED)):
            continue  # no provider's host: one test instead of one per rule
        for suffix, at, pattern, reason in PROVIDER_COMMAND_RULES:
            if at == command and _suffixed(host, suffix) and pattern.search(diagnostic):
                return reason
        for suffix, rules in PROVIDER_RULES:
            if _suffixed(host, suffix):
                for pattern, reason in rules:
                    if pattern.search(diagnostic):
                        return reason
    return None


def text_reason(diagnostic: str) -> Reason | None:
    """The first phrase rule matching the diagnostic text, or None."""
    lowered = diagnostic.lower()
    return _text_reason(lowered, _GATE_LITERALS.present(lowered))


def _text_reason(lowered: str, present: set[str]) -> Reason | None:
    """:func:`text_reason` given the lowered text and the gate literals it contains."""
    opened = set(_ALWAYS_OPEN)
    for literal in present:
        owners = _OPENS_ALONE.get(literal)
        if owners is not None:
            opened |= owners
        for index, alternatives in _OPENS_WITH.get(literal, ()):
            if index not in opened and alternatives_met(alternatives, present):
                opened.add(index)
    for index in sorted(opened):  # rule order: the first match wins
        reason, pattern = TEXT_RULES[index]
        if pattern.search(lowered):
            return reason
    return None


def _reason(status: str, reply_code: str, diagnostic: str) -> tuple[Reason, bool]:
    """(reason, specific): ``specific`` when an exact code or a phrase decided, not just
    the generic code tables."""
    detail = _subject_detail(status)
    lowered = diagnostic.lower()
    if all_gate_open(_FULL_GATE, lowered) and _FULL.search(lowered):
        return R.MAILBOXFULL, True
    if detail in EXACT_STATUS:
        return EXACT_STATUS[detail], True
    found = _text_reason(lowered, _GATE_LITERALS.present(lowered))
    if found is not None:
        return found, True
    if detail in STATUS_TABLE:
        return STATUS_TABLE[detail], False
    if _WEAK_USERUNKNOWN.search(diagnostic):
        return R.USERUNKNOWN, False
    if not status and reply_code in REPLY_TABLE:
        return REPLY_TABLE[reply_code], False
    if status.endswith(".0.0") and reply_code in REPLY_TABLE and reply_code not in _VAGUE_REPLIES:
        return REPLY_TABLE[reply_code], False  # "other or undefined" says less than the reply
    if status.endswith(".0.0") or reply_code:
        return R.ONHOLD, False
    return R.UNDEFINED, False


def classify(
    status: str,
    reply_code: str,
    diagnostic: str,
    *,
    remote_mta: str = "",
    format: str = "",
    action: str = "failed",
    command: str = "",
    recipient: str = "",
) -> tuple[str, bool]:
    """(reason name, permanent) for one recipient's failure; never raises.

    ``command`` is the SMTP command the failure answered: a "no such user" that arrives only
    after DATA comes from a content filter (the address was accepted at RCPT), and one at
    MAIL FROM is about the sender, so the command refines an address reason.  Provider rules
    apply when the remote MTA, a host named in the diagnostic or the recipient's domain
    belongs to the provider (its stock wording is then definitive).
    """
    if action in _NOT_FAILURES:
        return _NOT_FAILURES[action].value, False
    diagnostic = _CONTINUATION.sub("", diagnostic[:4000])
    status, reply_code = status.strip(), reply_code.strip()
    hosts = (remote_mta, remote_host(diagnostic), recipient.rpartition("@")[2])
    provider = _provider_reason(hosts, diagnostic, command)
    specific = provider is not None
    if provider is not None:
        reason = provider
    else:
        reason, specific = _reason(status, reply_code, diagnostic)
        reason = _BY_COMMAND.get((command, reason), reason)
        if not specific:
            reason = _GENERIC_BY_COMMAND.get(command, reason)
        if reason is R.USERUNKNOWN and _filter_answer(status, command, diagnostic):
            reason = R.FILTERED
    if (
        reason is R.NETWORKERROR
        and action == "failed"
        and status[:1] in ("4", "")
        and _TIMEOUT.search(diagnostic)
    ):
        reason = R.EXPIRED  # timeouts that ended in a bounce: the retries ran out
    if action == "delayed" and not specific:
        reason = R.EXPIRED
    temporary = status.startswith("4") or (not status and reply_code.startswith("4"))
    return reason.value, reason in PERMANENT_REASONS and not temporary
