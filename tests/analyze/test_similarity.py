"""MinHash signatures: the vectorised form agrees with the plain definition, and estimates Jaccard similarity."""

import hashlib
import random
import re

import numpy as np

from repotune.parsing.extract import content_hash
from repotune.similarity import (from_signature, minhash, reference_signature, signature, signatures)

CODE = b'''def total(items):
    """Sum the prices."""
    return sum(i.price * i.quantity for i in items)\tif items else 0

class Cart:
    def add(self, sku, quantity=1):
        self.lines[sku] = self.lines.get(sku, 0) + quantity
x=1
'''


def test_every_span_matches_the_plain_definition():
    rng = random.Random(7)
    spans = [(0, len(CODE)), (0, 0), (len(CODE), len(CODE)), (3, 3), (0, 5), (4, 9), (10, 40)]  # empty, cut words
    spans += [tuple(sorted((rng.randrange(len(CODE) + 1), rng.randrange(len(CODE) + 1)))) for _ in range(200)]
    got = signatures(CODE, spans, 64)
    assert len(got) == len(spans)
    for (start, end), value in zip(spans, got, strict=True):
        assert value == reference_signature(CODE[start:end], 64), (start, end)
    assert signature(CODE.decode(), 32) == reference_signature(CODE, 32)  # other sizes too
    assert signatures(CODE, [], 64) == []


def test_nested_whole_word_spans_share_their_shingles_and_match_the_definition():
    """Units nest (a class holds its methods) and start and end on word boundaries: that path is checked on many
    random nested line-aligned spans, mixed with spans that cut words."""
    rng = random.Random(11)
    lines = [f"{'    ' * rng.randrange(3)}w{rng.randrange(40)} = f{rng.randrange(9)}(x{rng.randrange(5)}) + 1"
             for _ in range(300)]
    data = "\n".join(lines).encode()
    line_starts = [0] + [i + 1 for i, c in enumerate(data) if c == 10]
    spans = []
    for _ in range(150):
        a, b = sorted(rng.sample(range(len(line_starts)), 2))
        end = line_starts[b] - 1  # the newline before line b: a span ends where a line's text ends
        spans.append((line_starts[a], end))
    spans += [(3, 200), (0, len(data))]
    for (start, end), value in zip(spans, signatures(data, spans), strict=True):
        assert value == reference_signature(data[start:end]), (start, end)


def test_signatures_do_not_depend_on_the_other_spans_or_their_order():
    spans = [(0, 120), (130, len(CODE)), (0, len(CODE))]
    alone = [signatures(CODE, [span])[0] for span in spans]
    assert signatures(CODE, spans) == alone
    assert signatures(CODE, spans[::-1]) == alone[::-1]


def test_long_spans_cross_permutation_blocks():
    rng = random.Random(3)
    words = [f"w{rng.randrange(50_000)}" for _ in range(60_000)]  # more shingles than one block holds
    data = " ".join(words).encode()
    spans = [(0, len(data)), (0, len(data) // 3), (len(data) // 2, len(data))]
    for (start, end), value in zip(spans, signatures(data, spans), strict=True):
        expected = signatures(data[start:end], [(0, end - start)])[0]
        assert value == expected


def test_jaccard_estimates():
    base = " ".join(f"token{i}" for i in range(400))
    edited = base.replace("token200 ", "changed ")
    other = " ".join(f"other{i}" for i in range(400))
    assert minhash(base).jaccard(minhash(base)) == 1.0
    assert minhash(base).jaccard(minhash(edited)) > 0.9  # true: 395/401
    assert minhash(base).jaccard(minhash(other)) < 0.1
    assert np.array_equal(from_signature(signature(base)).hashvalues, minhash(base).hashvalues)


def test_content_hash_normalises_whitespace_like_the_regex():
    for text in ["a  b\n\tc ", "\u00a0x\u2003y\x1cz\u3000", "", "   ", "é ü\r\n\x0bq"]:
        expected = re.sub(r"\s+", " ", text).strip()
        assert content_hash(text) == hashlib.sha256(expected.encode()).hexdigest()


def test_content_hashes_of_a_files_units_equal_hashing_each_units_code():
    """rows hashes every unit from one normalised copy of the file; it must equal content_hash(code), also for a
    unit that cuts a word (a JavaScript function ending in `})`), and for files with Unicode whitespace."""
    from repotune.parsing.extract import analyze_file
    from repotune.analyze.rows import _content_hashes
    from repotune.similarity import Words

    sources = {
        "a.py": CODE,
        "b.js": b"run(function () {\n  return 1;\n});\nconst f = (x) =>   x  * 2;\n",
        "c.py": "def f():\n    s = 'a\u00a0b\u3000c'  # Unicode spaces\n    return s\n".encode(),
        "d.py": b"",
    }
    for path, data in sources.items():
        fa = analyze_file(data, path, {"py": "python", "js": "javascript"}[path.rsplit(".", 1)[1]])
        assert len(fa.units) >= 1
        assert _content_hashes(fa, Words(fa.data)) == [content_hash(u.code) for u in fa.units], path


def test_near_duplicates_are_minhash_lsh_candidates():
    """repository._duplicates bands the signatures itself; it must pick what datasketch's MinHashLSH would:
    the same exact and near duplicates and the same representatives, for strict and loose thresholds."""
    from datasketch import MinHashLSH

    from repotune.analyze.repository import _duplicates

    rng = random.Random(5)
    base = [[f"t{rng.randrange(300)}" for _ in range(60)] for _ in range(40)]
    texts = []
    for words in base:  # each text, then copies with a few words changed, and an exact (re-indented) copy
        texts.append(" ".join(words))
        for edits in (1, 3, 12):
            copy = list(words)
            for _ in range(edits):
                copy[rng.randrange(len(copy))] = f"e{rng.randrange(1000)}"
            texts.append(" ".join(copy))
        texts.append("  ".join(words))
    rng.shuffle(texts)
    rows = [{"unit_id": f"u{i:03d}", "content_hash": content_hash(t), "_signature": signature(t)} for i, t in
            enumerate(texts)] + [{"unit_id": "short", "content_hash": "x", "_signature": None}]

    def reference(threshold):
        duplicate_of, seen, counts = [None] * len(rows), {}, {"exact": 0, "near": 0}
        lsh = MinHashLSH(threshold=threshold, num_perm=64)
        for i, r in enumerate(rows):
            if r["_signature"] is None:
                continue
            if r["content_hash"] in seen:
                duplicate_of[i], counts["exact"] = seen[r["content_hash"]], counts["exact"] + 1
                continue
            seen[r["content_hash"]] = r["unit_id"]
            similar = lsh.query(from_signature(r["_signature"]))
            if similar:
                duplicate_of[i], counts["near"] = sorted(similar)[0], counts["near"] + 1
                continue
            lsh.insert(r["unit_id"], from_signature(r["_signature"]))
        return duplicate_of, counts

    for threshold in (0.9, 0.6, 0.3):
        expected = reference(threshold)
        assert _duplicates(rows, threshold, 64) == expected
        assert expected[1]["exact"] == 40 and expected[1]["near"] > 0
