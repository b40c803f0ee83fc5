"""Pathway peer: a streaming pipeline over a directory of files, with a vector index and a BM25 index.

    python pathway_peer.py <corpus.jsonl> <plan.json>   → one JSON line on stdout

Pathway (pathway on PyPI) is under the Business Source License 1.1 (BSL; its LICENSE.txt: non-production
use allowed, production use on one machine under an additional use grant, Apache 2.0 four years after
each change); this benchmark is non-production use. The rest of this directory's dependencies are MIT.

The pipeline, in streaming mode (`pw.run` never finishes by itself):
- input: `pw.io.fs.read(<dir>, format="json", mode="streaming")` over a directory with one file per
  document (one JSON line, {"doc_id", "content"}), moved in once the pipeline runs. Pathway's streaming file
  connector tracks file additions, modifications and deletions: a rewritten file retracts the rows
  read from its old version and inserts the new ones, a removed file retracts its rows. So the
  updates are applied by replacing files (written aside, then renamed into the directory: never
  read half-written) and the deletes by removing them, while the pipeline runs.
- splitter: pathway.xpacks.llm.splitters.RecursiveSplitter with encoding_name="cl100k_base" (Pathway's
  own token splitter with an overlap; a wrapper around langchain-text-splitters' recursive splitter
  measured in tiktoken cl100k_base tokens, the encoding Tributary's chunker counts in), chunk size /
  overlap from the plan; `flatten` makes one row per chunk.
- embedder: bench/peers/hashing.py as a deterministic `pw.udf` (so Pathway need not memoize its results).
- indexes: pathway.stdlib.indexing BruteForceKnn (cosine, 256 dimensions) over the vectors and
  TantivyBM25 over the chunk texts, each a DataIndex over the chunk table, queried with
  `query_as_of_now` from a Python connector (`pw.io.python.read`) that this script feeds.
- connectors commit every PATHWAY_AUTOCOMMIT_MS (default 50 ms here; Pathway's default is 1500 ms,
  which would add up to 1.5 s to every change for nothing but batching).

Completion: `pw.io.subscribe` on the chunk table with its vectors (the table both indexes ingest)
keeps a mirror of it: `on_change` applies each insertion and retraction, `on_time_end` is called when a
logical time is closed, i.e. when the mirror holds every change of that time and earlier. The control
thread (pw.run blocks the main one) has `on_time_end` check, at each closed time, whether the mirror
shows what it waits for: every document with chunks (ingest), or every updated document's chunks equal to the
split of its new content, marker included, and no chunk of a deleted document (changes). The indexes
are other operators fed by the same table; to count their work too, a query is then sent through
them (BM25 for the markers, and a vector query): `query_as_of_now` answers a query against the
index state at the query's time, so its answer arriving means the indexes have taken in everything
the mirror showed. The time is taken when those answers arrive; the BM25 answer must hold every
updated document, else the changes count as not reflected (as they do when the mirror has not shown
them within 120 s). The file connector notices a change at its next scan of the directory (0.06 to
0.43 s from a write to the row in a small test here; not configurable from Python).
The ingest starts when the files are moved into the watched directory (written aside before; the
pipeline is running and has answered a warm-up query by then, as Tributary's server is up before
the first publish); the changes start when the first file is replaced.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import sys
import tempfile
import threading
from collections import defaultdict

import numpy as np

from common import emit, exactness, live_after, load_inputs, now, peak_rss_mb, rates, reflected, versions
from hashing import DIMENSION, embed

import pathway as pw
from pathway.stdlib.indexing import BruteForceKnnFactory, TantivyBM25Factory
from pathway.xpacks.llm.splitters import RecursiveSplitter

AUTOCOMMIT_MS = int(os.environ.get("PATHWAY_AUTOCOMMIT_MS", "50"))
TIMEOUT_S = float(os.environ.get("PEERS_TIMEOUT_S", "900"))
REFLECT_TIMEOUT_S = 120.0  # changes not shown by then: reported as not reflected


class DocSchema(pw.Schema):
    doc_id: str  # not "id": that is Pathway's row key
    content: str


class QuerySchema(pw.Schema):
    qid: str
    text: str
    k: int


class Queries(pw.io.python.ConnectorSubject):
    """Queries this script sends through the indexes, one commit each."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: queue.Queue = queue.Queue()

    def run(self) -> None:
        while True:
            q = self.pending.get()
            if q is None:
                return
            self.next(**q)
            self.commit()

    @property
    def _deletions_enabled(self) -> bool:
        return False


@pw.udf(deterministic=True)
def hash_embed(text: str) -> np.ndarray:
    return np.asarray(embed(text), dtype=np.float32)


def file_name(i: int) -> str:
    return f"doc{i:06d}.json"


def write_doc(path: str, doc_id: str, content: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"doc_id": doc_id, "content": content}) + "\n")


def main() -> None:
    docs, plan = load_inputs(sys.argv)
    tmp = tempfile.mkdtemp(prefix="peers-pathway-")
    watched = os.path.join(tmp, "docs")
    staging = os.path.join(tmp, "staging")
    os.makedirs(watched)
    os.makedirs(staging)
    name_of = {d["id"]: file_name(i) for i, d in enumerate(docs)}
    for d in docs:  # written aside, moved into the watched directory once the pipeline runs
        write_doc(os.path.join(staging, name_of[d["id"]]), d["id"], d["content"])
    written_at = now()

    splitter = RecursiveSplitter(chunk_size=plan["chunkTokens"], chunk_overlap=plan["overlapTokens"], encoding_name="cl100k_base")

    def split(text: str) -> list[str]:
        return [c for c, _ in splitter.chunk(text)]

    # ---- the pipeline
    raw = pw.io.fs.read(watched, format="json", schema=DocSchema, mode="streaming", autocommit_duration_ms=AUTOCOMMIT_MS)
    chunks = (
        raw.select(doc_id=pw.this.doc_id, parts=splitter(pw.this.content))
        .flatten(pw.this.parts)
        .select(doc_id=pw.this.doc_id, text=pw.this.parts[0])
    )
    embedded = chunks.with_columns(vector=hash_embed(pw.this.text))
    knn = BruteForceKnnFactory(dimensions=DIMENSION, embedder=None).build_index(embedded.vector, embedded)
    bm25 = TantivyBM25Factory().build_index(embedded.text, embedded)

    subject = Queries()
    queries = pw.io.python.read(subject, schema=QuerySchema, autocommit_duration_ms=AUTOCOMMIT_MS)
    queries = queries.with_columns(vector=hash_embed(pw.this.text))
    answers_bm25 = bm25.query_as_of_now(queries.text, number_of_matches=queries.k).select(qid=pw.left.qid, doc_ids=pw.right.doc_id)
    answers_knn = knn.query_as_of_now(queries.vector, number_of_matches=queries.k).select(qid=pw.left.qid, doc_ids=pw.right.doc_id)

    # ---- what the control thread watches
    lock = threading.Condition()
    mirror: dict[object, tuple[str, str]] = {}  # row key → (doc id, chunk text)
    by_doc: dict[str, set] = defaultdict(set)
    answers: dict[str, tuple[float, list[str]]] = {}  # "<qid>/<index>" → (arrival, doc ids)
    watching: list[dict | None] = [None]  # the condition the control thread waits for, checked at each closed time

    def on_chunk(key, row, time, is_addition):
        with lock:
            if is_addition:
                mirror[key] = (row["doc_id"], row["text"])
                by_doc[row["doc_id"]].add(key)
            else:
                doc_id, _ = mirror.pop(key)
                by_doc[doc_id].discard(key)
                if not by_doc[doc_id]:
                    del by_doc[doc_id]

    def on_time_end(time):
        # every change of this logical time (and earlier) is in the mirror, none of a later one
        with lock:
            w = watching[0]
            if w is not None and w["at"] is None and w["pred"]():
                w["at"] = now()
                lock.notify_all()

    def answer_sink(kind):
        def on_answer(key, row, time, is_addition):
            if is_addition:
                ids = [d for d in (row["doc_ids"] or ()) if d is not None]
                with lock:
                    answers[f"{row['qid']}/{kind}"] = (now(), ids)
                    lock.notify_all()
        return on_answer

    pw.io.subscribe(embedded, on_change=on_chunk, on_time_end=on_time_end)
    pw.io.subscribe(answers_bm25, on_change=answer_sink("bm25"))
    pw.io.subscribe(answers_knn, on_change=answer_sink("knn"))

    result: dict = {}

    def wait_until(pred, what: str, timeout_s: float = TIMEOUT_S) -> None:
        deadline = now() + timeout_s
        with lock:
            while not pred():
                if now() > deadline:
                    raise TimeoutError(f"pathway: {what} not seen in {timeout_s} s")
                lock.wait(0.5)

    def watch(pred, what: str, timeout_s: float = TIMEOUT_S) -> float:
        """When (perf_counter) the mirror first showed `pred` true at the end of a logical time."""
        w: dict = {"pred": pred, "at": None}
        with lock:
            watching[0] = w
        wait_until(lambda: w["at"] is not None, what, timeout_s)
        return w["at"]

    def ask(qid: str, text: str, k: int) -> dict[str, tuple[float, list[str]]]:
        subject.pending.put({"qid": qid, "text": text, "k": k})
        wait_until(lambda: f"{qid}/bm25" in answers and f"{qid}/knn" in answers, f"the answer to {qid}")
        with lock:
            return {kind: answers[f"{qid}/{kind}"] for kind in ("bm25", "knn")}

    def control() -> None:
        try:
            all_ids = {d["id"] for d in docs}
            # the pipeline is up (and its indexes answer) before the corpus arrives, as
            # Tributary's server is up before the first publish
            ask("warm-up", "warm up", 1)
            t0 = now()
            for name in name_of.values():
                os.replace(os.path.join(staging, name), os.path.join(watched, name))
            try:
                mirror_s = watch(lambda: all_ids <= by_doc.keys(), "every document") - t0
            except TimeoutError:
                with lock:
                    missing = sorted(all_ids - by_doc.keys())
                raise TimeoutError(f"{len(missing)} of {len(all_ids)} documents never reached the chunk table, e.g. {missing[:3]}")
            # through the indexes: any query term will do, the answer is what counts
            a = ask("ingest", "install usage license", 10)
            ingest_s = max(x[0] for x in a.values()) - t0
            with lock:
                n_chunks = len(mirror)
            result["ingest"] = {**rates(ingest_s, len(docs), n_chunks), "mirrorSeconds": round(mirror_s, 3)}

            # the changes: rewrite the updated documents' files, remove the deleted ones'
            # (mtimes are compared: let a second pass since the files were written)
            pause = 1.1 - (now() - written_at)
            if pause > 0:
                threading.Event().wait(pause)
            new_split = {u["id"]: sorted(split(u["content"])) for u in plan["updates"]}
            t0 = now()
            for u in plan["updates"]:
                staged = os.path.join(staging, name_of[u["id"]])
                write_doc(staged, u["id"], u["content"])
                os.replace(staged, os.path.join(watched, name_of[u["id"]]))
            for d in plan["deletes"]:
                os.remove(os.path.join(watched, name_of[d]))

            def not_shown() -> tuple[list[str], list[str]]:
                updates = [u for u, want in new_split.items() if sorted(mirror[k][1] for k in by_doc.get(u, ())) != want]
                return updates, [d for d in plan["deletes"] if d in by_doc]

            def all_shown() -> bool:
                updates, deletes = not_shown()
                return not updates and not deletes

            reflect = {"updated": len(plan["updates"]), "deleted": len(plan["deletes"])}
            try:
                mirror_s = watch(all_shown, "the changes", REFLECT_TIMEOUT_S) - t0
                markers = " ".join(u["marker"] for u in plan["updates"])
                want_ids = {u["id"] for u in plan["updates"]}
                a = ask("changes", markers, max(10, 2 * len(want_ids)))
                reflect_s = max(x[0] for x in a.values()) - t0
                missing = sorted(want_ids - set(a["bm25"][1]))
                result["reflect"] = {"seconds": round(reflect_s, 3), **reflect, "mirrorSeconds": round(mirror_s, 3), **reflected(missing, [])}
            except TimeoutError:
                with lock:
                    updates, deletes = not_shown()
                result["reflect"] = {"seconds": round(now() - t0, 3), **reflect, **reflected(updates, deletes)}

            with lock:
                view: dict[str, list[str]] = defaultdict(list)
                for doc_id, text in mirror.values():
                    view[doc_id].append(text)
            result["exactness"] = exactness(view, live_after(docs, plan), plan["deletes"], split)
            emit({
                "system": "pathway",
                "versions": versions("pathway", "langchain-text-splitters", "tiktoken"),
                "splitter": f"pathway RecursiveSplitter(encoding_name=cl100k_base, {plan['chunkTokens']}/{plan['overlapTokens']} tokens)",
                "embedder": f"bench/peers/hashing.py ({DIMENSION} dimensions)",
                "autocommitMs": AUTOCOMMIT_MS,
                **result,
                "peakRssMb": peak_rss_mb(),
            })
            code = 0
        except BaseException as e:  # noqa: BLE001 — any failure ends the streaming run
            sys.stderr.write(f"pathway peer: {type(e).__name__}: {e}\n")
            code = 1
        shutil.rmtree(tmp, ignore_errors=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # pw.run in streaming mode does not return

    threading.Thread(target=control, daemon=True).start()
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)


if __name__ == "__main__":
    main()
