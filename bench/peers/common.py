"""What the three peer scripts share: reading the corpus and the change plan, the live set after
the plan, the exactness check and the one JSON line each prints.

A peer script is run as `python <peer>.py <corpus.jsonl> <plan.json>` by bench/peers-bench.ts, alone
on the machine (the systems run one after the other). corpus.jsonl holds one document a line,
{"id", "title", "content"}; plan.json holds the chunking ({"chunkTokens", "overlapTokens"}, the
same as Tributary's TRIBUTARY_CHUNK_TOKENS / TRIBUTARY_CHUNK_OVERLAP_TOKENS) and the changes
applied after the ingest: "updates" ({"id", "content", "marker"}: the new content, which ends with a
sentence holding the unique marker word) and "deletes" (ids).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections import Counter
from typing import Callable, Iterable


def load_inputs(argv: list[str]) -> tuple[list[dict], dict]:
    if len(argv) != 3:
        sys.stderr.write(f"usage: {argv[0]} <corpus.jsonl> <plan.json>\n")
        sys.exit(2)
    with open(argv[1], encoding="utf-8") as f:
        docs = [json.loads(line) for line in f if line.strip()]
    with open(argv[2], encoding="utf-8") as f:
        plan = json.load(f)
    return docs, plan


def live_after(docs: list[dict], plan: dict) -> dict[str, str]:
    """id → content of every document once the plan's updates and deletes are applied."""
    live = {d["id"]: d["content"] for d in docs}
    for u in plan["updates"]:
        live[u["id"]] = u["content"]
    for d in plan["deletes"]:
        live.pop(d, None)
    return live


def now() -> float:
    return time.perf_counter()


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB: the peak resident set of this process (all its threads)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def exactness(index: dict[str, list[str]], live: dict[str, str], deleted: Iterable[str], split: Callable[[str], list[str]]) -> dict:
    """Whether the index holds exactly the chunks of the live documents: per document the multiset of
    chunk texts equals what the peer's splitter makes of the current content (so no chunk of an old
    version is left), and no chunk of a deleted document."""
    deleted = set(deleted)
    expected_chunks = 0
    wrong_docs = 0
    for doc_id, content in live.items():
        want = Counter(split(content))
        expected_chunks += sum(want.values())
        if Counter(index.get(doc_id, [])) != want:
            wrong_docs += 1
    unknown = [d for d in index if d not in live]
    return {
        "exact": wrong_docs == 0 and not unknown,
        "chunks": sum(len(v) for v in index.values()),
        "expectedChunks": expected_chunks,
        "docs": sum(1 for v in index.values() if v),
        "expectedDocs": len(live),
        "docsWithWrongChunks": wrong_docs,
        "deletedDocsPresent": sum(1 for d in unknown if d in deleted),
        "unknownDocsPresent": sum(1 for d in unknown if d not in deleted),
    }


def reflected(updates_not_shown: list[str], deletes_not_shown: list[str]) -> dict:
    """Whether the lookup showed every change; the documents it did not, when some."""
    out: dict = {"reflected": not updates_not_shown and not deletes_not_shown}
    if updates_not_shown:
        out["updatesNotShown"] = updates_not_shown
    if deletes_not_shown:
        out["deletesNotShown"] = deletes_not_shown
    return out


def emit(result: dict) -> None:
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def rates(seconds: float, docs: int, chunks: int) -> dict:
    return {
        "seconds": round(seconds, 3),
        "docs": docs,
        "chunks": chunks,
        "docsPerSecond": round(docs / seconds, 1),
        "chunksPerSecond": round(chunks / seconds, 1),
    }


def versions(*packages: str) -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in packages}
