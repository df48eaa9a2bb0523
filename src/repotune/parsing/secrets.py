"""Find secrets (keys, tokens, passwords, private keys) and redact them before any text leaves the step.

Known formats first, then passwords in assignments and URLs, then high-entropy string literals. The same
function both counts (per kind) and redacts, so what is counted is what is removed.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import ahocorasick_rs

# (kind, pattern, literal markers, offset): a pattern is tried only where one of its markers occurs, at `offset`
# from it (where its match starts), so the common case (no secret at all) costs one scan for every marker at
# once instead of a regex scan per format. None: the start varies, the whole text is scanned when a marker occurs.
PATTERNS: list[tuple[str, re.Pattern[str], tuple[str, ...], int | None]] = [
    ("private_key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z]+ )*PRIVATE KEY-----|\Z)"),
     ("PRIVATE KEY-----",), None),
    ("aws_access_key_id", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
     ("AKIA", "ASIA", "AGPA", "AIDA", "AROA"), 0),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b"),
     ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), 0),
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), ("glpat-",), 0),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), ("xox",), 0),
    ("stripe_key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"), ("_live_", "_test_"), -2),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), ("AIza",), 0),
    ("openai_key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"), ("sk-",), 0),
    ("sendgrid_key", re.compile(r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"), ("SG.",), 0),
    ("npm_token", re.compile(r"\bnpm_[A-Za-z0-9]{36}"), ("npm_",), 0),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), ("eyJ",), 0),
    ("azure_storage_key", re.compile(r"AccountKey=[A-Za-z0-9+/=]{40,}"), ("AccountKey=",), 0),
    ("url_credentials", re.compile(r"(?<=://)[^/\s:@'\"]+:[^/\s@'\"]+(?=@)"), ("://",), 3),
    ("aws_secret_access_key", re.compile(
        r"(?i)(?<=aws_secret_access_key)(['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9/+=]{40}\b"),
     ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"), len("aws_secret_access_key")),
]
ASSIGNED_MARKERS = ("passw", "pwd", "secret", "token", "api_key", "apikey", "api-key", "access_key",
                    "accesskey", "auth_key", "PASSW", "PWD", "SECRET", "TOKEN", "API_KEY", "ACCESS_KEY", "Password",
                    "Secret", "Token", "ApiKey", "apiKey", "accessKey", "AccessKey")
# password = "...", api_key: '...', "token": "..." — the value only. Anchored on the keyword: a leading
# [\w]* would make the scan backtrack at every word character.
ASSIGNED = re.compile(
    r"(?i)(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|access[_-]?key|auth[_-]?key)"
    r"[\w.-]*['\"]?\s*(?::=|=>|[:=])\s*(['\"])(?P<value>[^'\"\s]{6,})\1")
STRING_LITERAL = re.compile(r"(['\"])(?P<value>[A-Za-z0-9+/=_-]{24,})\1")
PLACEHOLDER = re.compile(r"(?i)^(?:x+|\*+|changeme|password|example|dummy|test|your[\w-]*|<[^>]*>|\$\{?\w+\}?)$")


ASSIGNED_KEYWORDS = ("passw", "pwd", "secret", "token", "api", "access", "auth")  # where an ASSIGNED match can start
# One Aho-Corasick pass over a lowercase copy finds every format's marker and every keyword at once (a substring
# search per marker scanned the whole file some thirty times). A lowercase marker's places include those of the
# marker as written; a case-sensitive pattern simply fails to match at the others.
SEARCH_WORDS = sorted({m.lower() for _, _, markers, _ in PATTERNS for m in markers} | set(ASSIGNED_KEYWORDS))
WORD_SEARCH = ahocorasick_rs.AhoCorasick(SEARCH_WORDS)
WORD_INDEX = {word: i for i, word in enumerate(SEARCH_WORDS)}
MARKER_WORDS = [tuple({WORD_INDEX[m.lower()] for m in markers}) for _, _, markers, _ in PATTERNS]
KEYWORD_WORDS = tuple(WORD_INDEX[k] for k in ASSIGNED_KEYWORDS)

# Every byte that may stand inside a long literal becomes "a", quotes stay, the rest is a space: a literal long
# enough to be tested can only start where a quote is followed by 24 "a"s, found with bytes.find (memchr speed).
LITERAL_SHAPE = bytes(ord("a") if chr(c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-"
                      else c if chr(c) in "'\"" else 32 for c in range(256))
MIN_LITERAL = 24


def _sub_at(pattern: re.Pattern[str], text: str, starts, replace) -> str:
    """pattern.sub(replace, text) for a pattern whose matches can only start at `starts`: the same leftmost,
    non-overlapping matches, the regex run at those places only."""
    if not starts:
        return text
    out, done = [], 0
    for at in sorted(set(starts)):
        if at < done or at < 0:
            continue
        match = pattern.match(text, at)
        if match:
            out.append(text[done:at])
            out.append(replace(match))
            done = match.end()
    return "".join(out) + text[done:] if out else text


class _WordPlaces:
    """Where each search word starts in a text (ASCII only: lowercasing keeps positions there), found again only
    after the text was changed by a redaction."""

    def __init__(self, text: str):
        self.text, self.starts = None, {}
        self.update(text)

    def update(self, text: str) -> None:
        if text is self.text:
            return
        self.text, self.starts = text, {}
        for index, start, _ in WORD_SEARCH.find_matches_as_indexes(text.lower(), overlapping=True):
            self.starts.setdefault(index, []).append(start)

    def of(self, words: tuple[int, ...]) -> list[int]:
        """Where any of these search words (indexes into SEARCH_WORDS) starts."""
        starts = self.starts
        if not starts:
            return []
        return [at for word in words if word in starts for at in starts[word]]


def _literal_starts(text: str) -> list[int]:
    shape = text.encode("ascii").translate(LITERAL_SHAPE)
    starts: list[int] = []
    for quote in (b"'", b'"'):
        needle = quote + b"a" * MIN_LITERAL
        at = shape.find(needle)
        while at >= 0:
            starts.append(at)
            at = shape.find(needle, at + MIN_LITERAL + 1)  # the next quote comes after the run
    return starts


def shannon_entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def _looks_random(value: str) -> bool:
    if len(value) < 24 or value.isalpha() or value.isdigit():
        return False
    hexlike = all(c in "0123456789abcdefABCDEF" for c in value)
    return shannon_entropy(value) > (3.0 if hexlike else 4.2)


def redact(text: str | None, counts: Counter | None = None) -> str | None:
    """Replace every secret in text by [REDACTED:<kind>]; add one per finding to counts."""
    if not text:
        return text

    def replace(kind: str):
        def sub(match: re.Match[str]) -> str:
            if counts is not None:
                counts[kind] += 1
            # keep the line count, so line numbers of everything after a multi-line secret stay right
            return f"[REDACTED:{kind}]" + "\n" * match.group(0).count("\n")
        return sub

    def assigned(match: re.Match[str]) -> str:
        value = match.group("value")
        if value.startswith("[REDACTED:") or PLACEHOLDER.match(value):
            return match.group(0)
        if counts is not None:
            counts["password_assignment"] += 1
        start, end = match.span("value")
        return match.group(0)[: start - match.start()] + "[REDACTED:password_assignment]" + match.group(0)[end - match.start():]

    def entropy(match: re.Match[str]) -> str:
        value = match.group("value")
        if not _looks_random(value):
            return match.group(0)
        if counts is not None:
            counts["high_entropy_string"] += 1
        return f"{match.group(1)}[REDACTED:high_entropy_string]{match.group(1)}"

    def substitute(kind: str):
        if kind == "aws_secret_access_key":
            return lambda m: m.group(1) + replace(kind)(m)
        return replace(kind)

    if not text.isascii():  # lowercasing may move positions: whole-text scans where a marker occurs
        for kind, pattern, markers, _ in PATTERNS:
            if any(m in text for m in markers):
                text = pattern.sub(substitute(kind), text)
        if any(m in text for m in ASSIGNED_MARKERS):
            text = ASSIGNED.sub(assigned, text)
        return STRING_LITERAL.sub(entropy, text)

    places = _WordPlaces(text)  # redactions keep text ASCII
    if places.starts:  # some marker or keyword occurs (most short texts have none)
        for (kind, pattern, _, offset), words in zip(PATTERNS, MARKER_WORDS, strict=True):
            places.update(text)
            found = places.of(words)
            if not found:
                continue
            if offset is None:
                text = pattern.sub(substitute(kind), text)
            else:
                text = _sub_at(pattern, text, [at + offset for at in found], substitute(kind))
        places.update(text)
        text = _sub_at(ASSIGNED, text, places.of(KEYWORD_WORDS), assigned)
    return _sub_at(STRING_LITERAL, text, _literal_starts(text), entropy)
