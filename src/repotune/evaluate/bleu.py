"""Smoothed BLEU-4 exactly as CodeXGLUE code-to-text computes it (its evaluator/bleu.py, itself from the
code2nl scripts): lowercase and split punctuation (splitPuncts), NIST-style normalisation, n-grams 1..4 clipped by
the reference counts, add-one smoothing on orders 2..4, the brevity penalty against the *shortest* reference
(+1 on both lengths), sentence-level scores averaged over the corpus and scaled by 100.
"""

from __future__ import annotations

import math
import re
import sys
import xml.sax.saxutils
from collections import Counter

N = 4
NORMALIZE1 = [(re.compile("<skipped>"), ""), (re.compile(r"-\n"), ""), (re.compile(r"\n"), " ")]
NORMALIZE2 = [(re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "), (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
              (re.compile(r"([\.,])([^0-9])"), r" \1 \2"), (re.compile(r"([0-9])(-)"), r"\1 \2 ")]


def split_puncts(line: str) -> str:
    return " ".join(re.findall(r"[\w]+|[^\s\w]", line))


def normalize(s: str) -> list[str]:
    for pattern, replace in NORMALIZE1:
        s = pattern.sub(replace, s)
    s = xml.sax.saxutils.unescape(s, {"&quot;": '"'})
    s = f" {s} ".lower()
    for pattern, replace in NORMALIZE2:
        s = pattern.sub(replace, s)
    return s.split()


def count_ngrams(words: list[str], n: int = N) -> Counter:
    counts: Counter = Counter()
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    return counts


def sentence_bleu(references: list[str], hypothesis: str) -> float:
    """Smoothed sentence BLEU-4 in [0, 1] (CodeXGLUE's bleu(refs, candidate)[0])."""
    refs = [normalize(split_puncts(r.strip().lower())) for r in references]
    test = normalize(split_puncts(hypothesis.strip().lower()))
    max_counts: Counter = Counter()
    for ref in refs:
        for ngram, count in count_ngrams(ref).items():
            max_counts[ngram] = max(max_counts[ngram], count)
    reflen = min(len(r) for r in refs)
    guess = [max(len(test) - k + 1, 0) for k in range(1, N + 1)]
    correct = [0] * N
    for ngram, count in count_ngrams(test).items():
        correct[len(ngram) - 1] += min(max_counts.get(ngram, 0), count)
    logbleu = 0.0
    for k in range(N):
        smooth = 1 if k > 0 else 0
        logbleu += math.log(correct[k] + smooth + sys.float_info.min) - math.log(guess[k] + smooth + sys.float_info.min)
    logbleu /= N
    brevity = min(0.0, 1 - (reflen + 1) / (len(test) + 1))
    return math.exp(logbleu + brevity)


def corpus_bleu(references: list[list[str]], hypotheses: list[str]) -> float:
    """CodeXGLUE's corpus score: the mean of the smoothed sentence scores, times 100."""
    if not hypotheses:
        return 0.0
    return 100.0 * sum(sentence_bleu(r, h) for r, h in zip(references, hypotheses, strict=True)) / len(hypotheses)
