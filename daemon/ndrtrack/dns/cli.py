"""``ndrtrack dns spf|mx|check|dmarc``: the DNS evidence, for a person or as JSON.

Every command takes ``--nameserver HOST[:PORT]`` (like dig's ``@server``; repeatable) and
otherwise uses the ``dns:`` section of the configuration (``-c``), or the system's resolver
when the default configuration file does not exist.  Exit 0 when DNS answered (an NXDOMAIN,
"no SPF record" or a blocklist listing is an answer), 1 when it could not be asked.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import ipaddress
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

from ndrtrack.cli import DEFAULT_CONFIG, add_config_option
from ndrtrack.dns.check import SenderCheck, check_sender
from ndrtrack.dns.dmarc import dkim_selector, dmarc_policy
from ndrtrack.dns.mx import MxResult, mx_hosts
from ndrtrack.dns.resolver import Lookup, Resolver, ResolverSettings
from ndrtrack.dns.spf import SpfNode, SpfTree, evaluate_spf, spf_tree
from ndrtrack.errors import ConfigError
from ndrtrack.model import to_jsonable


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = subparsers.add_parser("dns", help="ask DNS: SPF tree, MX, sender checks, DMARC")
    sub = group.add_subparsers(dest="dns_command", metavar="ACTION", required=True)

    spf = _command(sub, "spf", "expand a domain's SPF policy: tree, networks, limits", cmd_spf)
    spf.add_argument("domain")
    spf.add_argument("--ip", help="also evaluate SPF for this IP (pyspf) and show its path")
    spf.add_argument("--sender", default="", help="MAIL FROM for --ip and for macros")
    spf.add_argument("--helo", default="")

    mx = _command(sub, "mx", "a domain's mail exchangers with their addresses", cmd_mx)
    mx.add_argument("domain")

    check = _command(sub, "check", "SPF result, FCrDNS, in-domain verdict, DNSBL for an IP",
                     cmd_check)
    check.add_argument("--ip", required=True, type=_ip)
    check.add_argument("--sender", required=True, help="the envelope sender (MAIL FROM)")
    check.add_argument("--helo", default="")
    check.add_argument("--dnsbl", action="append", default=None, metavar="ZONE",
                       help="blocklist zone (repeatable; default: dns.dnsbl_zones)")

    dmarc = _command(sub, "dmarc", "DMARC policy of a From domain (and a DKIM selector)",
                     cmd_dmarc)
    dmarc.add_argument("domain")
    dmarc.add_argument("--selector", action="append", default=[], help="DKIM selector")


def _command(sub: Any, name: str, text: str, func: Callable[[argparse.Namespace], int]
             ) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text)
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--nameserver", action="append", default=None, metavar="HOST[:PORT]",
                        help="ask this server (repeatable; default: dns.nameservers)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per try")
    parser.set_defaults(func=func)
    return parser


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None


def _settings(args: argparse.Namespace) -> tuple[ResolverSettings, tuple[str, ...]]:
    """Resolver settings and DNSBL zones from -c (when present), then the options."""
    settings = ResolverSettings()
    zones: tuple[str, ...] = ()
    if args.config != DEFAULT_CONFIG or os.path.exists(args.config):
        from ndrtrack.config import load_config

        config = load_config(args.config)
        settings, zones = ResolverSettings.from_config(config.dns), config.dns.dnsbl_zones
    changes: dict[str, Any] = {}
    if args.nameserver:
        changes["nameservers"] = tuple(args.nameserver)
    if args.timeout is not None:
        changes["timeout"] = args.timeout
    try:
        settings = dataclasses.replace(settings, **changes)
        settings.servers()
    except ValueError as exc:
        raise ConfigError([f"--nameserver: {exc}"]) from None
    return settings, tuple(zones)


def _run(args: argparse.Namespace, work: Callable[[Resolver, tuple[str, ...]], Awaitable[Any]]
         ) -> Any:
    settings, zones = _settings(args)

    async def main() -> Any:
        return await work(Resolver(settings), zones)

    return asyncio.run(main())


def _emit(args: argparse.Namespace, result: Any, text: Callable[[Any], list[str]]) -> None:
    if args.json:
        print(json.dumps(to_jsonable(result), ensure_ascii=False, indent=2))
    else:
        print("\n".join(text(result)))


# --------------------------------------------------------------------------- spf


def cmd_spf(args: argparse.Namespace) -> int:
    async def work(resolver: Resolver, _zones: tuple[str, ...]) -> dict[str, Any]:
        tree = await spf_tree(resolver, args.domain, ip=args.ip or "", sender=args.sender,
                              helo=args.helo)
        result: dict[str, Any] = {"tree": tree}
        if args.ip:
            sender = args.sender or f"postmaster@{args.domain}"
            result["evaluation"] = await evaluate_spf(resolver, args.ip, sender, args.helo)
            result["paths"] = tree.paths_to(args.ip)
        return result

    result = _run(args, work)
    _emit(args, result, _spf_text)
    return 1 if result["tree"].verdict == "temperror" else 0


def _spf_text(result: dict[str, Any]) -> list[str]:
    tree: SpfTree = result["tree"]
    lines = _node_text(tree.root, 0)
    lines.append("")
    lines.append(f"verdict: {tree.verdict}  ({tree.dns_terms} DNS-querying terms, "
                 f"{tree.void_lookups} void lookups, {len(tree.lookups)} lookups)")
    lines += [f"problem: {p}" for p in tree.problems]
    lines.append("may send:")
    lines += [f"  {a.qualifier}{a.kind} {a.value}    ({a.route})" for a in tree.allowed]
    if "evaluation" in result:
        ev = result["evaluation"]
        lines.append(f"spf {ev.result} for {ev.ip} as {ev.sender}: {ev.explanation}"
                     + (f" (matched {ev.mechanism})" if ev.mechanism else ""))
        lines += [f"  allowed by {a.route}" for a in result["paths"]]
    return lines


def _node_text(node: SpfNode, depth: int) -> list[str]:
    pad = "  " * depth
    head = f"{pad}{node.domain}: " + (node.record or f"[{node.status}]")
    lines = [head]
    lines += [f"{pad}  ! {p}" for p in node.problems if depth == 0 or node.status != "ok"]
    for term in node.terms:
        extra = f" → {term.target}" if term.target and term.target not in term.text else ""
        flags = (" [void]" if term.void else "") + (f" ({term.note})" if term.note else "")
        lines.append(f"{pad}  {term.text}{extra}{flags}")
        if term.child is not None:
            lines += _node_text(term.child, depth + 2)
    return lines


# --------------------------------------------------------------------------- mx


def cmd_mx(args: argparse.Namespace) -> int:
    async def work(resolver: Resolver, _zones: tuple[str, ...]) -> MxResult:
        return await mx_hosts(resolver, args.domain)

    result = _run(args, work)
    _emit(args, result, _mx_text)
    return 1 if result.status == "error" else 0


def _mx_text(result: MxResult) -> list[str]:
    lines = [f"{result.domain}: {result.status}"]
    for host in result.hosts:
        addresses = ", ".join(host.addresses) or "no address"
        lines.append(f"  {host.preference:>5} {host.host}  {addresses}")
        lines += [f"        ! {p}" for p in host.problems]
    lines += [f"problem: {p}" for p in result.problems if not p.startswith(tuple(
        h.host + ":" for h in result.hosts))]
    return lines


# --------------------------------------------------------------------------- check


def cmd_check(args: argparse.Namespace) -> int:
    async def work(resolver: Resolver, zones: tuple[str, ...]) -> SenderCheck:
        chosen = tuple(args.dnsbl) if args.dnsbl is not None else zones
        return await check_sender(resolver, args.ip, args.sender, args.helo,
                                  dnsbl_zones=chosen)

    result = _run(args, work)
    _emit(args, result, _check_text)
    failed = result.spf.result == "temperror" or result.rdns.status == "error"
    return 1 if failed else 0


def _check_text(check: SenderCheck) -> list[str]:
    spf = check.spf
    lines = [f"SPF:   {spf.result} — {spf.explanation}"
             + (f" (matched {spf.mechanism})" if spf.mechanism else "")]
    if check.helo_spf is not None:
        lines.append(f"HELO:  {check.helo_spf.result} — {check.helo_spf.explanation}")
    rdns = check.rdns
    lines.append(f"rDNS:  {rdns.summary}")
    lines.append(f"FCrDNS: {'yes' if rdns.fcrdns else 'no'}; in sender's domain "
                 f"({rdns.sender_org_domain}): {'yes' if rdns.in_sender_domain else 'no'}")
    for listing in check.dnsbl:
        codes = f" {', '.join(listing.codes)}" if listing.codes else ""
        reason = f" — {listing.reason}" if listing.reason else ""
        lines.append(f"DNSBL: {listing.zone}: {listing.status}{codes}{reason}")
    lines.append("lookups:")
    lines += [f"  {_lookup_line(lk)}" for lk in check.lookups]
    return lines


def _lookup_line(lookup: Lookup) -> str:
    timing = "cache" if lookup.cached else f"{lookup.elapsed * 1000:.1f} ms {lookup.transport}"
    return f"{lookup.describe()}  [ttl {lookup.ttl}, {timing}]"


# --------------------------------------------------------------------------- dmarc


def cmd_dmarc(args: argparse.Namespace) -> int:
    async def work(resolver: Resolver, _zones: tuple[str, ...]) -> dict[str, Any]:
        policy = await dmarc_policy(resolver, args.domain)
        keys = await asyncio.gather(*(dkim_selector(resolver, args.domain, s)
                                      for s in args.selector))
        return {"dmarc": policy, "dkim": tuple(keys)}

    result = _run(args, work)
    _emit(args, result, _dmarc_text)
    failed = result["dmarc"].status == "error" or any(k.status == "error"
                                                       for k in result["dkim"])
    return 1 if failed else 0


def _dmarc_text(result: dict[str, Any]) -> list[str]:
    policy = result["dmarc"]
    if policy.status == "found":
        lines = [f"DMARC for {policy.domain}: p={policy.policy} (record at "
                 f"_dmarc.{policy.record_domain}: {policy.record})"]
    else:
        lines = [f"DMARC for {policy.domain}: {policy.status}"]
    lines += [f"problem: {p}" for p in policy.problems]
    lines += [f"DKIM {k.selector}: {k.status} — {k.summary}" for k in result["dkim"]]
    return lines
