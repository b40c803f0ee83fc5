"""The one embedder every Python peer uses (bench/peers-bench.ts runs Tributary with
TRIBUTARY_EMBEDDER=hashing, its own feature-hashing embedder of the same shape).

Deterministic feature hashing, 256 dimensions: the text is NFKC-normalised and lower-cased, split
into words (runs of letters and digits), and each word (weight 1) and each pair of neighbouring
words (weight 0.5) is hashed with CRC-32 into one of 256 buckets with a sign bit, weighted by
sublinear term frequency (1 + ln tf); the vector is L2-normalised. These are the features and
weights of Tributary's hashing embedder (adapters/embedder/hashing/hashing-embedder.ts); the hash
function differs (CRC-32 here, a C function in the standard library, instead of FNV-1a + fmix32,
which would cost a Python loop per character), so the vectors are not bit-identical to
Tributary's, but the work per token is of the same kind. No third-party code, no model, no network.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections import Counter

DIMENSION = 256
_WORD = re.compile(r"[^\W_]+")
_BIGRAM_SEED = 0x9E3779B9


def embed(text: str) -> list[float]:
    s = unicodedata.normalize("NFKC", text).lower()
    words = _WORD.findall(s)
    vec = [0.0] * DIMENSION
    if not words:
        h = zlib.crc32(text.encode())
        vec[(h & 0x7FFFFFFF) % DIMENSION] = 1.0
        return vec
    crc = zlib.crc32
    log = math.log
    # distinct words and neighbouring pairs are counted in C (Counter), then hashed once each
    for feats, weight, seed in (
        (Counter(words), 1.0, 0),
        (Counter(map(" ".join, zip(words, words[1:]))), 0.5, _BIGRAM_SEED),
    ):
        for f, c in feats.items():
            h = crc(f.encode(), seed)
            v = weight if c == 1 else (1.0 + log(c)) * weight
            if h & 0x80000000:
                vec[(h & 0x7FFFFFFF) % DIMENSION] -= v
            else:
                vec[(h & 0x7FFFFFFF) % DIMENSION] += v
    norm = math.sqrt(sum(x * x for x in vec))
    if norm == 0.0:
        # every feature cancelled out in its bucket (vanishingly rare): a fixed unit vector
        vec[(zlib.crc32(text.encode()) & 0x7FFFFFFF) % DIMENSION] = 1.0
        return vec
    inv = 1.0 / norm
    return [x * inv for x in vec]


def embed_many(texts: list[str]) -> list[list[float]]:
    return [embed(t) for t in texts]
