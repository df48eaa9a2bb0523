"""Find secrets (keys, tokens, passwords, private keys) and redact them before any text leaves the step.

Known formats first, then passwords in assignments and URLs, then high-entropy string literals. The same
function both counts (per kind) and redacts, so what is counted is what is removed.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import ahocorasick_rs

# (kind, pattern, literal markers): a pattern runs only when one of its markers occurs in the text, so the
# common case (no secret at all) costs a few substring searches instead of a regex scan per format.
PATTERNS: list[tuple[str, re.Pattern[str], tuple[str, ...]]] = [
    ("private_key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z]+ )*PRIVATE KEY-----|\Z)"),
     ("PRIVATE KEY-----",)),
    ("aws_access_key_id", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
     ("AKIA", "ASIA", "AGPA", "AIDA", "AROA")),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b"),
     ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), ("glpat-",)),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), ("xox",)),
    ("stripe_key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"), ("_live_", "_test_")),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), ("AIza",)),
    ("openai_key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"), ("sk-",)),
    ("sendgrid_key", re.compile(r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"), ("SG.",)),
    ("npm_token", re.compile(r"\bnpm_[A-Za-z0-9]{36}"), ("npm_",)),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), ("eyJ",)),
    ("azure_storage_key", re.compile(r"AccountKey=[A-Za-z0-9+/=]{40,}"), ("AccountKey=",)),
    ("url_credentials", re.compile(r"(?<=://)[^/\s:@'\"]+:[^/\s@'\"]+(?=@)"), ("://",)),
    ("aws_secret_access_key", re.compile(
        r"(?i)(?<=aws_secret_access_key)(['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9/+=]{40}\b"),
     ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY")),
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
# One Aho-Corasick pass finds every marker (or keyword) at once; a substring search per marker scanned the
# whole file some thirty times.
MARKER_SEARCH = ahocorasick_rs.AhoCorasick(sorted({m for _, _, markers in PATTERNS for m in markers}))
KEYWORD_SEARCH = ahocorasick_rs.AhoCorasick(list(ASSIGNED_KEYWORDS))


def _sub_assigned(text: str, replace) -> str:
    """ASSIGNED.sub(replace, text), trying the pattern only where one of its keywords starts.

    A case-insensitive alternation scanned at every position was the costliest regex of the step (many files
    say "token" somewhere); the keywords' places in a lowercase copy are the few worth trying. Lowercasing keeps
    positions only for ASCII text, so other text takes the plain scan."""
    if not text.isascii():
        return ASSIGNED.sub(replace, text) if any(m in text for m in ASSIGNED_MARKERS) else text
    starts = sorted({start for _, start, _ in KEYWORD_SEARCH.find_matches_as_indexes(text.lower(), overlapping=True)})
    out, done = [], 0
    for at in starts:
        if at < done:
            continue
        match = ASSIGNED.match(text, at)
        if match:
            out.append(text[done:at])
            out.append(replace(match))
            done = match.end()
    return "".join(out) + text[done:] if out else text


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

    present = set(MARKER_SEARCH.find_matches_as_strings(text, overlapping=True))
    for kind, pattern, markers in PATTERNS:
        if present.isdisjoint(markers):
            continue
        if kind == "aws_secret_access_key":
            text = pattern.sub(lambda m: m.group(1) + replace(kind)(m), text)
        else:
            text = pattern.sub(replace(kind), text)

    def assigned(match: re.Match[str]) -> str:
        value = match.group("value")
        if value.startswith("[REDACTED:") or PLACEHOLDER.match(value):
            return match.group(0)
        if counts is not None:
            counts["password_assignment"] += 1
        start, end = match.span("value")
        return match.group(0)[: start - match.start()] + "[REDACTED:password_assignment]" + match.group(0)[end - match.start():]

    text = _sub_assigned(text, assigned)

    def entropy(match: re.Match[str]) -> str:
        value = match.group("value")
        if not _looks_random(value):
            return match.group(0)
        if counts is not None:
            counts["high_entropy_string"] += 1
        return f"{match.group(1)}[REDACTED:high_entropy_string]{match.group(1)}"

    return STRING_LITERAL.sub(entropy, text)
