"""Literal gates for regular expressions: skip a regex scan that cannot succeed.

Python's ``re`` has no literal prefilter for patterns that start with an alternation, so a
rule such as ``user unknown|no such user|…`` is tried at every position of every text.
Most rules and format signatures are alternations of phrases, and every match of such a
pattern contains one of a few literals.  :func:`gate_literals` derives those literals from
the pattern source (conservatively: a branch without a usable literal disables the gate) and
:class:`Gated` tests them with ``in`` on the lowercased text before running the regex.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Iterator

import ahocorasick


def lowered(pattern: str) -> str:
    """``pattern`` with literals lowercased and escapes (``\\S``, ``\\D``…) kept as written."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern[index] == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        out.append(pattern[index].lower())
        index += 1
    return "".join(out)


_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def word_start_first(pattern: str) -> str:
    """``pattern`` with each ``\\bc`` (a word boundary before a literal word character c)
    written ``c(?<!\\wc)``: the same matches, but a branch then starts with a literal.

    When any branch of an alternation starts with ``\\b``, the engine cannot scan for the
    branches' first characters and tries every branch at every offset of the text (a phrase
    rule took 17 us on a 150-character diagnostic, 50 us on a 550-character one; 4 us
    rewritten).  The look-behind says what ``\\b`` said: the character before c is no word
    character (or there is none)."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "[":
            end = _class_end(pattern, index) + 1
            out.append(pattern[index:end])
            index = end
            continue
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escape = pattern[index : index + 2]
        after = pattern[index + 2 : index + 3]
        quantified = pattern[index + 3 : index + 4] in ("?", "*", "+", "{")
        if escape == "\\b" and after in _WORD_CHARS and after and not quantified:
            out.append(f"{after}(?<!\\w{after})")
            index += 3
            continue
        out.append(escape)
        index += 2
    return "".join(out)


def _class_end(pattern: str, start: int) -> int:
    """Index of the ``]`` closing the character class that opens at ``start``."""
    index = start + 1
    if index < len(pattern) and pattern[index] == "^":
        index += 1
    if index < len(pattern) and pattern[index] == "]":
        index += 1
    while index < len(pattern):
        if pattern[index] == "\\":
            index += 2
            continue
        if pattern[index] == "]":
            return index
        index += 1
    return len(pattern)


def _structure(pattern: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """``(index, char, depth)`` of each ``(``, ``)`` and ``|`` outside escapes and classes,
    ``depth`` counted after the character (a ``)`` closing the outermost group gives 0)."""
    depth, index = 0, start
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":
            index = _class_end(pattern, index)
        elif char in "()|":
            depth += {"(": 1, ")": -1, "|": 0}[char]
            yield index, char, depth
        index += 1


def _branches(pattern: str) -> list[str]:
    """The top-level ``|`` branches of a pattern."""
    branches, start = [], 0
    for index, char, depth in _structure(pattern):
        if char == "|" and depth == 0:
            branches.append(pattern[start:index])
            start = index + 1
    branches.append(pattern[start:])
    return branches


def _literal(branch: str) -> str:
    """The longest run of plain characters that every match of ``branch`` contains.

    Only text outside groups, classes and escapes counts; a character followed by ``?``,
    ``*`` or ``{`` is optional and is dropped from the run.
    """
    return max(_runs(branch), key=len, default="")


def _runs(branch: str) -> list[str]:
    """The runs of plain characters outside groups that every match of ``branch`` contains
    (the pieces :func:`_literal` chooses from)."""
    runs, run, depth, index = [], "", 0, 0
    while index < len(branch):
        char = branch[index]
        if char == "\\" or char in "[().^$|":
            runs.append(run)
            run = ""
            if char == "\\":
                index += 1
            elif char == "[":
                index = _class_end(branch, index)
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
        elif char in "?*{":
            runs.append(run[:-1])
            run = ""
            if char == "{":
                index = branch.find("}", index)
                if index < 0:
                    return []
        elif char == "+":
            runs.append(run)
            run = ""
        elif depth == 0:
            run += char
        index += 1
    runs.append(run)
    return runs


def _group_end(pattern: str, start: int) -> int:
    """Index of the ``)`` closing the group that opens at ``start`` (len when unclosed)."""
    return next((index for index, char, depth in _structure(pattern, start)
                 if char == ")" and depth == 0), len(pattern))


_GROUP_HEAD = re.compile(r"\(\?(?:[aiLmsux-]*:|P<\w+>)|\((?!\?)")


def _groups(branch: str) -> list[tuple[str, ...]]:
    """For each group at the top of ``branch`` that every match passes through (capturing,
    ``(?:``, inline flags; not optional, not a look-around), the literals of its
    alternatives — when each has one of 3+ characters: a match contains one of them."""
    found: list[tuple[str, ...]] = []
    index = 0
    while index < len(branch):
        char = branch[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":
            index = _class_end(branch, index) + 1
            continue
        if char != "(":
            index += 1
            continue
        end = _group_end(branch, index)
        head = _GROUP_HEAD.match(branch, index)
        optional = branch[end + 1 : end + 2] in ("?", "*", "{")
        if head is not None and not optional:
            literals = tuple(_literal(b) for b in _branches(branch[head.end() : end]))
            if all(len(lit.strip()) >= 3 for lit in literals):
                found.append(literals)
        index = end + 1
    return found


def requirements(branch: str) -> list[tuple[str, ...]]:
    """What every match of ``branch`` contains: each tuple lists literals of which one
    occurs (its plain runs of 3+ characters, its required groups' alternatives); the most
    selective first (longest shortest literal)."""
    found: list[tuple[str, ...]] = [(run,) for run in _runs(branch) if len(run.strip()) >= 3]
    found += _groups(branch)
    return sorted(dict.fromkeys(found), key=lambda lits: -min(len(lit) for lit in lits))


def gate_literals(pattern: str) -> tuple[str, ...]:
    """Literals of which every match contains one; () when a branch has none of 3+ chars
    (neither a plain run nor a required group whose every alternative has one)."""
    literals: list[str] = []
    for branch in _branches(pattern):
        found = requirements(branch)
        if not found:
            return ()
        literals.extend(found[0])
    return tuple(literals)


# A conjunctive gate: (literal, alternatives) pairs, each alternative a tuple of further
# requirements (each a tuple of literals of which one must occur).  It opens when some
# pair's literal occurs and so do all requirements of one of its alternatives (an empty
# alternative needs nothing more).  An empty gate always opens.
Requirements = tuple[tuple[str, ...], ...]
AllGate = tuple[tuple[str, tuple[Requirements, ...]], ...]


def gate_all(pattern: str) -> AllGate:
    """The conjunctive gate of ``pattern``: every branch contributes its most selective
    requirement's literals, each with the branch's other requirements to check after it.
    Sharper than :func:`gate_literals` where a common word ("address ") leads a branch
    whose other words ("black", "listed") are rare."""
    merged: dict[str, list[Requirements]] = {}
    for branch in _branches(pattern):
        found = requirements(branch)
        if not found:
            return ()
        for literal in found[0]:
            merged.setdefault(literal, []).append(tuple(found[1:]))
    alone = {literal for literal, alternatives in merged.items() if () in alternatives}
    return tuple(
        (literal, ((),) if literal in alone else tuple(dict.fromkeys(alternatives)))
        for literal, alternatives in merged.items()
        # a literal containing one that opens the gate alone adds nothing
        if not any(other != literal and other in literal for other in alone)
    )


def all_gate_open(gate: AllGate, lowered_text: Container[str]) -> bool:
    """Whether a conjunctive gate (see :func:`gate_all`) lets ``lowered_text`` through.

    ``lowered_text`` may also be the set of the gate's literals the text contains
    (:meth:`LiteralFinder.present`): only ``literal in lowered_text`` is asked."""
    if not gate:
        return True
    for literal, alternatives in gate:
        if literal in lowered_text and alternatives_met(alternatives, lowered_text):
            return True
    return False


def alternatives_met(
    alternatives: tuple[Requirements, ...], lowered_text: Container[str]
) -> bool:
    """Whether all requirements of one of a gate literal's alternatives are met."""
    for more in alternatives:
        if not more or _each_present(more, lowered_text):
            return True
    return False


def _each_present(requirements: tuple[tuple[str, ...], ...], text: Container[str]) -> bool:
    for literals in requirements:
        for literal in literals:
            if literal in text:
                break
        else:
            return False
    return True


def gate_literal_set(gate: AllGate) -> set[str]:
    """Every literal a conjunctive gate may ask about (its leads and their requirements)."""
    found: set[str] = set()
    for literal, alternatives in gate:
        found.add(literal)
        for more in alternatives:
            for literals in more:
                found.update(literals)
    return found


class LiteralFinder:
    """Which of many literals occur in a text, found in one pass (Aho-Corasick).

    Gates of an ordered rule list that rarely stops early on a long text (reason phrases:
    several hundred literals, a diagnostic of 1,500 characters cost 325 us in ``in`` tests)
    ask ``literal in present`` of the set this returns instead: one C pass over the text,
    overlapping occurrences included, whatever the number of literals.
    """

    __slots__ = ("_automaton", "_empty")

    def __init__(self, literals: Iterable[str]) -> None:
        automaton = ahocorasick.Automaton()
        for literal in dict.fromkeys(literals):
            if literal:
                automaton.add_word(literal, literal)
        self._empty = len(automaton) == 0
        if not self._empty:
            automaton.make_automaton()
        self._automaton = automaton

    def present(self, text: str) -> set[str]:
        """Exactly the literals ``lit`` for which ``lit in text`` holds."""
        if self._empty:
            return set()
        return {literal for _, literal in self._automaton.iter(text)}


def gate_open(literals: tuple[str, ...], lowered_text: str) -> bool:
    """Whether the gate lets a search through: no literals, or one of them is in the text.

    Plain ``in`` tests (C substring search) beat a regex alternation of the literals here."""
    if not literals:
        return True
    for literal in literals:
        if literal in lowered_text:
            return True
    return False


def gate_open_below(literals: tuple[str, ...], lowered_text: str, limit: int) -> bool:
    """:func:`gate_open` on ``lowered_text[:limit]``, without the copy."""
    if not literals:
        return True
    for literal in literals:
        if lowered_text.find(literal, 0, limit) >= 0:
            return True
    return False


_NOT_FOLDABLE = re.compile(r"\\[uUxN0-7]|\[[^\]]*[A-Z]|\(\?P")


def folded(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """A case-sensitive twin of an IGNORECASE pattern, for lowercased ASCII text.

    On ASCII text, re.I matching equals matching the lowercased pattern against the
    lowercased text, and a case-sensitive alternation of literals lets the engine scan for
    their first letters.  None when that is not evidently true: verbose patterns, escapes
    that name characters, upper case inside a class ([A-z] spans punctuation), named groups."""
    if not pattern.flags & re.IGNORECASE or pattern.flags & re.VERBOSE:
        return None
    if _NOT_FOLDABLE.search(pattern.pattern):
        return None
    try:
        return re.compile(lowered(pattern.pattern), pattern.flags & ~re.IGNORECASE)
    except re.error:
        return None


class Gated:
    """A compiled pattern and its gate; ``search`` takes the text and its lowercased form."""

    __slots__ = ("pattern", "literals", "folded")

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        verbose = bool(pattern.flags & re.VERBOSE)
        self.literals = (
            () if verbose else tuple(dict.fromkeys(gate_literals(lowered(pattern.pattern))))
        )
        self.folded = folded(pattern)

    def search(self, text: str, lowered_text: str) -> re.Match[str] | None:
        if not gate_open(self.literals, lowered_text):
            return None
        return self.pattern.search(text)

    def found(self, text: str, lowered_text: str) -> bool:
        """Whether ``search`` would match, through the folded twin when the text is ASCII."""
        if not gate_open(self.literals, lowered_text):
            return False
        return self.found_past_gate(text, lowered_text, lowered_text.isascii())

    def found_past_gate(self, text: str, lowered_text: str, ascii: bool) -> bool:
        """:meth:`found` for a text whose gate is known to be open (a :class:`GateTable`
        said so): the literals are not looked for a second time.  ``ascii``: whether
        ``lowered_text`` is ASCII, asked once by the caller for all its patterns."""
        if self.folded is not None and ascii:
            return self.folded.search(lowered_text) is not None
        return self.pattern.search(text) is not None

    def found_in_prefix(self, text: str, lowered_text: str, limit: int, slack: int = 0) -> bool:
        """Whether the pattern occurs in ``text[:limit]``, without copying prefixes:
        literals are looked for in ``lowered_text`` below ``limit + slack`` (``slack``: how
        much longer lowercasing made the text, as "İ" becomes two characters), and the
        regex ends its search at ``limit``."""
        if not gate_open_below(self.literals, lowered_text, limit + slack):
            return False
        if self.folded is not None and lowered_text.isascii():
            return self.folded.search(lowered_text, 0, limit) is not None
        return self.pattern.search(text, 0, limit) is not None


class GateTable:
    """Gates of many rules checked together: each distinct literal is looked for once.

    For an ordered rule list (first match wins) where many rules share literals — format
    hints all say "mailer-daemon@", provider codes and reason phrases repeat words — testing
    each rule's gate separately repeats the same substring searches.  ``opened(text)`` gives
    the indices of the rules whose gate is open (rules without literals always are), in
    rule order; the caller then runs only those rules' regexes.

    It pays when most rules are looked at anyway: every format hint is tested, and most
    diagnostics name no provider code (0.045 → 0.022 ms per message).  For a list whose
    first rules usually match (reasons.TEXT_RULES) the per-rule gates, which stop at the
    first match, are faster (0.030 vs 0.038 ms per message): keep those.
    """

    __slots__ = ("_always", "_literals")

    def __init__(self, gates: list[tuple[str, ...]] | tuple[tuple[str, ...], ...]) -> None:
        owners: dict[str, set[int]] = {}
        always: set[int] = set()
        for index, literals in enumerate(gates):
            if not literals:
                always.add(index)
            for literal in literals:
                owners.setdefault(literal, set()).add(index)
        self._always = frozenset(always)
        self._literals = tuple((lit, frozenset(found)) for lit, found in owners.items())

    def opened(self, lowered_text: str) -> list[int]:
        """Indices (ascending) of the rules whose gate lets ``lowered_text`` through."""
        found = set(self._always)
        for literal, owners in self._literals:
            if literal in lowered_text:
                found |= owners
        return sorted(found)
