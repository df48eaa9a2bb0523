"""Find secrets (keys, tokens, passwords, private keys) and redact them before any text leaves the step.

First the known formats of a maintained rule engine (`secret_engine`: ~490 provider rules), then our own passes
for what no format rule knows: private-key blocks (also cut-off ones), AWS key pairs, credentials in URLs,
passwords and keys assigned in code and config (quoted or not), Authorization headers, passwords and tokens
written in comments and prose, random-looking URL path parts (webhooks) and high-entropy string literals. Every
finding is replaced by its span with `[REDACTED:<kind>]`, and the same function counts it by kind, so what is
counted is what is removed.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable

import ahocorasick_rs

from repotune.parsing.secret_engine import SecretScanTimeout, known_format_spans

__all__ = ["SecretScanTimeout", "redact", "shannon_entropy"]

# (kind, pattern, literal markers, offset): a pattern is tried only where one of its markers occurs, at `offset`
# from it (where its match starts), so the common case (no secret at all) costs one scan for every marker at
# once instead of a regex scan per format. None: the start varies, the whole text is scanned when a marker occurs.
# These are the formats the engine's rules leave out by design: a key block without its end line or with a short
# body, AWS key ids whose account part does not decode, and values that are secret only by their name or place.
PATTERNS: list[tuple[str, re.Pattern[str], tuple[str, ...], int | None]] = [
    ("private_key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
                               r"(?:-----END (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)"),
     ("PRIVATE KEY", ), None),
    ("aws_access_key_id", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
     ("AKIA", "ASIA", "AGPA", "AIDA", "AROA"), 0),
    ("url_credentials", re.compile(r"(?<=://)[^/\s:@'\"]+:[^/\s@'\"]+(?=@)"), ("://",), 3),
    ("aws_secret_access_key", re.compile(
        r"(?i)(?<=aws_secret_access_key)(['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9/+=]{40}\b"),
     ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"), len("aws_secret_access_key")),
]
NAME_WORDS = r"(?:passw(?:or)?d|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|auth[_-]?key" \
             r"|signing[_-]?key|private[_-]?key|encryption[_-]?key|master[_-]?key)"
# password = "...", api_key: '...', "token": "..." — the value only. Anchored on the keyword: a leading
# [\w]* would make the scan backtrack at every word character.
ASSIGNED = re.compile(
    rf"(?i)(?P<name>{NAME_WORDS}[\w.-]*)['\"]?\s*(?::=|=>|[:=])\s*(['\"])(?P<value>[^'\"\s]{{6,}})\2")
# The same without quotes, as .env, YAML, Dockerfile ENV and shell lines write it: the value runs to the line's
# end (or a comment), so an expression (`token = make_token()`) never matches.
UNQUOTED = re.compile(
    rf"(?i)(?P<name>{NAME_WORDS}[\w.-]*)[ \t]*(?::=|=>|[:=])[ \t]*"
    r"(?P<value>[A-Za-z0-9+/=_.~!@#%^&*-]{8,})(?=[ \t]*(?:#[^\n]*)?$)", re.M)
# "Authorization: Basic dXNlcjpwYXNz", "-H 'Authorization: Bearer abc…'", `Bearer ${token}` is a template
AUTH_HEADER = re.compile(r"(?i)\b(?:basic|bearer)[ \t]+(?P<value>[A-Za-z0-9+/._~-]{16,}=*)")
# "the admin password is …", "login with root / … on staging", "token: …" in comments, docstrings and documents
PROSE = re.compile(
    r"(?i)\b(?:passw(?:or)?d|passwd|passphrase|pwd|credentials?|login|token|secret|pass(?=[ \t]*(?:is\b|:|=)))s?\b"
    r"[^\n]{0,40}?"
    r"(?:\bis\b|\bare\b|\bwas\b|\bwith\b|[:=]|[ \t]/[ \t])[ \t]*[`'\"]?(?P<value>[^\s`'\"<>()\[\]{},;|*]{6,})")
STRING_LITERAL = re.compile(r"(['\"])(?P<value>[A-Za-z0-9+/=_~-]{24,})\1")
URL = re.compile(r"(?i)[a-z][a-z0-9+.-]*://[^\s'\"`<>()\[\]{}]+")
PLACEHOLDER = re.compile(
    r"(?i)^(?:x+|\*+|changeme|password|example|dummy|test|your[\w-]*|<[^>]*>|\[[^\]]*\]|\$\{?\w+\}?)$")
VERSION = re.compile(r"^[\^~<>=v]*\d+(?:\.[\dx*]+)*(?:[-+][\w.]+)?$")  # "^4.0.0" under "js-tokens" is no secret
IDENTIFIER_PATH = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$")  # self.password, settings.API_TOKEN
IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")
PASSWORD_NAME = re.compile(r"(?i)passw|passphrase|pwd")
WORD_RUN = re.compile(r"[A-Z]?[a-z]{3,}|[A-Z]{4,}")
# A name that says the value is about a secret, not the secret: secretName, token_path, password_file, api_key_id
NOT_SECRET_NAME = re.compile(r"(?i)(?:name|path|file|dir|ref|id|url|uri|type|length|len|size|count|ttl|timeout"
                             r"|expiry|expires|header|field|env|var|version|endpoint|prefix|format|mode|policy)s?$")

ASSIGNED_KEYWORDS = ("passw", "passph", "pwd", "secret", "token", "api", "access", "auth", "signing", "private",
                     "encryption", "master")  # where an ASSIGNED or UNQUOTED match can start
PROSE_KEYWORDS = ("pass", "pwd", "credential", "login", "token", "secret")  # "pass" covers passw and passph
AUTH_KEYWORDS = ("basic", "bearer")
# One Aho-Corasick pass over a lowercase copy finds every format's marker and every keyword at once (a substring
# search per marker scanned the whole file some thirty times). A lowercase marker's places include those of the
# marker as written; a case-sensitive pattern simply fails to match at the others.
SEARCH_WORDS = sorted({m.lower() for _, _, markers, _ in PATTERNS for m in markers}
                      | set(ASSIGNED_KEYWORDS) | set(PROSE_KEYWORDS) | set(AUTH_KEYWORDS))
WORD_SEARCH = ahocorasick_rs.AhoCorasick(SEARCH_WORDS)
WORD_INDEX = {word: i for i, word in enumerate(SEARCH_WORDS)}
MARKER_WORDS = [tuple({WORD_INDEX[m.lower()] for m in markers}) for _, _, markers, _ in PATTERNS]
KEYWORD_WORDS = tuple(WORD_INDEX[k] for k in ASSIGNED_KEYWORDS)
PROSE_WORDS = tuple(WORD_INDEX[k] for k in PROSE_KEYWORDS)
AUTH_WORDS = tuple(WORD_INDEX[k] for k in AUTH_KEYWORDS)
URL_WORDS = (WORD_INDEX["://"],)

# Every byte that may stand inside a long literal becomes "a", quotes stay, the rest is a space: a literal long
# enough to be tested can only start where a quote is followed by 24 "a"s, found with bytes.find (memchr speed).
LITERAL_SHAPE = bytes(ord("a") if chr(c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_~-"
                      else c if chr(c) in "'\"" else 32 for c in range(256))
MIN_LITERAL = 24
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


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


ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


class _WordPlaces:
    """Where each search word starts in a text, found again only after the text was changed by a redaction.
    Lowercasing keeps positions unless a character lowercases to two (U+0130): then only ASCII is lowered."""

    def __init__(self, text: str):
        self.text, self.starts = None, {}
        self.update(text)

    def update(self, text: str) -> None:
        if text is self.text:
            return
        self.text, self.starts = text, {}
        lower = text.lower()
        if len(lower) != len(text):  # some character lowercases to two: lower ASCII letters only (slower)
            lower = text.translate(ASCII_LOWER)
        for index, start, _ in WORD_SEARCH.find_matches_as_indexes(lower, overlapping=True):
            self.starts.setdefault(index, []).append(start)

    def of(self, words: tuple[int, ...]) -> list[int]:
        """Where any of these search words (indexes into SEARCH_WORDS) starts."""
        starts = self.starts
        if not starts:
            return []
        return [at for word in words if word in starts for at in starts[word]]


def _literal_starts(text: str) -> list[int]:
    shape = text.encode("ascii", "replace").translate(LITERAL_SHAPE)  # one byte per character, "?" for others
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


def _looks_random(value: str, min_length: int = 24) -> bool:
    if len(value) < min_length or value.isalpha() or value.isdigit():
        return False
    hexlike = all(c in HEX_DIGITS for c in value)
    if min_length < 24 and not hexlike and not any(c.isdigit() for c in value):
        return False  # a shorter run without a digit is a name far more often than a key
    return shannon_entropy(value) > (3.0 if hexlike else (4.2 if len(value) >= 24 else 3.5))


def _mixed_case_random(part: str) -> bool:
    """Base64-like: upper and lower case and digits in about random shares (a slug or a model name is mostly
    lowercase words; a hex digest has no upper case)."""
    upper = sum(c.isupper() for c in part)
    lower = sum(c.islower() for c in part)
    return upper >= len(part) / 5 and lower >= len(part) / 5 and any(c.isdigit() for c in part) and _looks_random(part)


def _words_without_digits(value: str) -> bool:
    """PreTrainedTokenizerBase, embedding_rowwise, julien-c/dummy-diff-tokenizer: three quarters in word runs."""
    if any(c.isdigit() for c in value):
        return False
    return sum(map(len, WORD_RUN.findall(value))) >= 0.75 * len(value)


def _not_a_value(value: str) -> bool:
    """Already redacted, a placeholder, a version or a dotted name (self.password): never a secret's value."""
    return bool(value.startswith("[REDACTED:") or PLACEHOLDER.match(value) or VERSION.match(value)
                or IDENTIFIER_PATH.match(value))


def _password_like(value: str) -> bool:
    """A value written without quotes or in prose that is a credential, not a word, a name, a path or a version."""
    if "://" in value or value.startswith(("/", "./", "../", "~/", "@", "-")):
        return False  # a path, a URL (its credentials have their own pass), a handle or a flag
    if _not_a_value(value):
        return False
    if _looks_random(value, 16):
        return True
    has_letter = any(c.isalpha() for c in value)
    has_digit = any(c.isdigit() for c in value)
    if IDENTIFIER.match(value):  # hunter2-style words pass only with digits and both cases: not token_v2
        return has_digit and any(c.isupper() for c in value) and any(c.islower() for c in value)
    has_symbol = any(c in "!@#$%^&~" for c in value)
    return has_letter and (has_digit or has_symbol)


def redact(text: str | None, counts: Counter | None = None) -> str | None:
    """Replace every secret in text by [REDACTED:<kind>]; add one per finding to counts.

    Raises SecretScanTimeout when the engine gives up on the text: it must then not be kept."""
    if not text:
        return text

    def note(kind: str) -> str:
        if counts is not None:
            counts[kind] += 1
        return f"[REDACTED:{kind}]"

    def replace(kind: str):
        def sub(match: re.Match[str]) -> str:
            # keep the line count, so line numbers of everything after a multi-line secret stay right
            return note(kind) + "\n" * match.group(0).count("\n")
        return sub

    def value_only(kind: str, accept: Callable[[re.Match[str]], bool]):
        def sub(match: re.Match[str]) -> str:
            if not accept(match):
                return match.group(0)
            start, end = match.span("value")
            whole = match.group(0)
            return whole[: start - match.start()] + note(kind) + whole[end - match.start():]
        return sub

    def quoted(match: re.Match[str]) -> bool:
        value, name = match.group("value"), match.group("name")
        if _not_a_value(value) or NOT_SECRET_NAME.search(name):
            return False
        # under a token or key name (not a password's) a value of words without a digit is a name: "cls_sep"
        return PASSWORD_NAME.match(name) is not None or not _words_without_digits(value)

    def unquoted(match: re.Match[str]) -> bool:
        return not NOT_SECRET_NAME.search(match.group("name")) and _password_like(match.group("value"))

    def prose(match: re.Match[str]) -> bool:
        value = match.group("value").rstrip(".,:;)")
        return not value.startswith("#") and "+" not in value and "%" not in value and _password_like(value)

    def header(match: re.Match[str]) -> bool:
        value = match.group("value")
        if not any(c.isalpha() for c in value):
            return False  # a token of letters alone still mixes cases: "Bearer SkFKOIPqZEaqkuIANyyb…"
        mixed = any(c.isupper() for c in value) and any(c.islower() for c in value) and len(value) >= 20
        return any(c.isdigit() for c in value) or mixed

    def entropy(match: re.Match[str]) -> str:
        value = match.group("value")
        if not _looks_random(value):
            return match.group(0)
        return f"{match.group(1)}{note('high_entropy_string')}{match.group(1)}"

    def substitute(kind: str):
        if kind == "aws_secret_access_key":
            return lambda m: m.group(1) + replace(kind)(m)
        return replace(kind)

    text = _redact_spans(text, known_format_spans(text), note)
    generic = ((ASSIGNED, KEYWORD_WORDS, value_only("password_assignment", quoted)),
               (UNQUOTED, KEYWORD_WORDS, value_only("password_assignment", unquoted)),
               (AUTH_HEADER, AUTH_WORDS, value_only("authorization_header", header)),
               (PROSE, PROSE_WORDS, value_only("password_in_prose", prose)))

    places = _WordPlaces(text)
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
        for pattern, words, sub in generic:
            places.update(text)
            text = _sub_at(pattern, text, places.of(words), sub)
        places.update(text)
        text = _sub_at(URL, text, _url_starts(text, places.of(URL_WORDS)),
                       lambda m: _redact_url_parts(m.group(0), note))
    return _sub_at(STRING_LITERAL, text, _literal_starts(text), entropy)


SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")


def _url_starts(text: str, separators: list[int]) -> list[int]:
    """Where the URL around each "://" starts: the scheme's first letter."""
    starts = []
    for at in separators:
        start = at
        while start > 0 and text[start - 1] in SCHEME_CHARS and at - start < 32:
            start -= 1
        starts.append(start)
    return starts


def _redact_spans(text: str, spans: list[tuple[int, int, str]], note: Callable[[str], str]) -> str:
    """Replace sorted (start, end, kind) spans; one that overlaps the previous is folded into it."""
    if not spans:
        return text
    out, done = [], 0
    for start, end, kind in spans:
        if start < done:  # overlaps what was replaced already: take its rest along
            if end > done:
                out.append("\n" * text[done:end].count("\n"))
                done = end
            continue
        out.append(text[done:start])
        out.append(note(kind) + "\n" * text[start:end].count("\n"))
        done = end
    return "".join(out) + text[done:]


def _redact_url_parts(url: str, note: Callable[[str], str]) -> str:
    """A random-looking path part or query value of a URL is a token (webhooks: .../webhooks/<id>/<token>), and
    so is a long random user name before "@" (https://<token>@host, a Sentry DSN's key)."""
    scheme, _, rest = url.partition("://")
    user, at, host = rest.partition("@")
    if at and "/" not in user and ":" not in user and len(user) >= 20 and (
            all(c in HEX_DIGITS for c in user) or _looks_random(user, 20)):
        rest = f"{note('url_token')}@{host}"
    parts = re.split(r"([/?&=#])", rest)
    changed = False
    for i, part in enumerate(parts[2:], start=2):  # parts[0] is the host
        if len(part) >= 32 and _mixed_case_random(part):
            parts[i] = note("url_token")
            changed = True
    return f"{scheme}://{''.join(parts)}" if changed or rest != url.partition("://")[2] else url
