"""Known credential formats from a maintained rule engine: Kingfisher's in-process scanner.

`kingfisher-secret-scanner` (MongoDB, Apache-2.0) compiles the Betterleaks rules (the gitleaks successor's ~460
provider formats) and Google's Veles detectors into one Vectorscan database and scans bytes without the network.
Why this engine and not Betterleaks' own bindings or detect-secrets: docs/secrets.md (recall on the planted corpus,
findings per MB on real code, MB/s). Our generic passes in `secrets` add what no format rule knows.
"""

from __future__ import annotations

import functools
import re

SCAN_TIMEOUT_S = 30.0  # per text; the rules are linear-time, so only a pathological file gets near it
RULE_SUFFIX = re.compile(r"\.\d+$")  # "telnyx-api-v2-key.1": a second rule for the same kind


class SecretScanTimeout(Exception):
    """The engine gave up on a text: the caller must not keep that text (it may hold a secret)."""


def kind_of(rule_id: str) -> str:
    """A rule id as the `[REDACTED:<kind>]` name: "betterleaks.github-pat" -> "github_pat"."""
    name = RULE_SUFFIX.sub("", rule_id.split(".", 1)[-1])
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@functools.cache
def _scanner():
    from kingfisher_sdk import Rules, Scanner  # compiled once per process (~0.4 s from its disk cache)

    return Scanner(Rules(confidence="medium"), base64=True, dedup=False, redact=False)


def known_format_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every credential the rules find, as character offsets into text, sorted.

    Helper findings that a rule keeps for pairing (an AWS secret key without its key id) are included: they are
    credentials all the same."""
    data = text.encode("utf-8", "surrogatepass")
    try:
        findings = _scanner().scan(data, timeout=SCAN_TIMEOUT_S)
    except TimeoutError as error:
        raise SecretScanTimeout(f"the secret scan gave up after {SCAN_TIMEOUT_S:.0f} s") from error
    spans = []
    for finding in findings:
        location = finding.location
        start, end = location["start_offset"], location["end_offset"]
        if len(data) != len(text):  # byte offsets into UTF-8: count the characters before them
            start, end = len(data[:start].decode("utf-8", "ignore")), len(data[:end].decode("utf-8", "ignore"))
        if end > start:
            spans.append((start, end, kind_of(finding.rule_id)))
    return sorted(spans)
