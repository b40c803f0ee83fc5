"""LangChain peer: the indexing API (`index()` with a SQLRecordManager) into an in-memory vector store.

    python langchain_peer.py <corpus.jsonl> <plan.json>   → one JSON line on stdout

- Splitter: langchain-text-splitters' RecursiveCharacterTextSplitter.from_tiktoken_encoder, cl100k_base
  (the encoding Tributary's chunker counts in), chunk_size / chunk_overlap in tokens from the plan.
- Embedder: bench/peers/hashing.py behind LangChain's Embeddings interface.
- Vector store: langchain-core's InMemoryVectorStore; record manager: SQLRecordManager on a SQLite
  file in a temporary directory (what `index()` uses to skip unchanged chunks and clean up old ones).
- `langchain.indexes` (index, SQLRecordManager) moved to the langchain-classic package in LangChain
  1.0; `index` itself is langchain-core's `langchain_core.indexing.api.index`, re-exported there.

Completion: `index()` is synchronous; the ingest is done when it returns (the record manager has
committed and the vector store holds every chunk with its vector). Updates: the 20 changed documents
are split again and given to `index(cleanup="incremental", source_id_key="source")`, which writes the
new chunks and deletes that source's chunks it did not see again. Deletes: `index()` only removes a
source that disappeared in `cleanup="full"` (which re-reads the whole corpus), so the deleted
documents' chunk ids are looked up in the record manager (`list_keys(group_ids=…)`) and removed
from the vector store and the record manager: the cheapest way LangChain offers. The change is
reflected when a lookup shows it: every updated document's chunks (record manager → vector store)
hold its marker and the deleted documents have no record and no chunk left (as the calls are synchronous,
what the lookup does not show then is never shown: reported as `reflected: false`).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from common import emit, exactness, live_after, load_inputs, now, peak_rss_mb, rates, reflected, versions
from hashing import DIMENSION, embed, embed_many

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_text_splitters import RecursiveCharacterTextSplitter

try:  # LangChain < 1.0
    from langchain.indexes import SQLRecordManager, index  # type: ignore[import-not-found]
except ImportError:  # LangChain ≥ 1.0: the same module lives in langchain-classic
    from langchain_classic.indexes import SQLRecordManager, index


class HashingEmbeddings(Embeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return embed_many(texts)

    def embed_query(self, text: str) -> list[float]:
        return embed(text)


def main() -> None:
    docs, plan = load_inputs(sys.argv)
    splitter = RecursiveCharacterTextSplitter.from_tiktoken_encoder(
        encoding_name="cl100k_base", chunk_size=plan["chunkTokens"], chunk_overlap=plan["overlapTokens"]
    )
    tmp = tempfile.mkdtemp(prefix="peers-langchain-")
    record_manager = SQLRecordManager("peers-bench", db_url=f"sqlite:///{os.path.join(tmp, 'records.db')}")
    record_manager.create_schema()
    store = InMemoryVectorStore(HashingEmbeddings())

    def chunks_of(items: list[dict]) -> list[Document]:
        return splitter.create_documents([d["content"] for d in items], metadatas=[{"source": d["id"]} for d in items])

    opts = dict(cleanup="incremental", source_id_key="source", key_encoder="sha256")

    t0 = now()
    result = index(chunks_of(docs), record_manager, store, **opts)
    ingest_s = now() - t0
    chunks = len(store.store)

    t0 = now()
    changed = index(chunks_of(plan["updates"]), record_manager, store, **opts)
    keys = record_manager.list_keys(group_ids=plan["deletes"])
    store.delete(keys)
    record_manager.delete_keys(keys)
    # the lookup that shows the changes
    updates_not_shown = [
        u["id"] for u in plan["updates"]
        if not any(u["marker"] in d.page_content for d in store.get_by_ids(record_manager.list_keys(group_ids=[u["id"]])))
    ]
    deletes_not_shown = [d for d in plan["deletes"] if record_manager.list_keys(group_ids=[d])]
    if store.get_by_ids(keys):
        deletes_not_shown = sorted(set(deletes_not_shown) | {d.metadata["source"] for d in store.get_by_ids(keys)})
    reflect_s = now() - t0

    index_view: dict[str, list[str]] = {}
    for entry in store.store.values():
        index_view.setdefault(entry["metadata"]["source"], []).append(entry["text"])
    live = live_after(docs, plan)
    emit({
        "system": "langchain",
        "versions": versions("langchain-classic", "langchain-core", "langchain-text-splitters", "tiktoken", "SQLAlchemy"),
        "splitter": f"RecursiveCharacterTextSplitter.from_tiktoken_encoder(cl100k_base, {plan['chunkTokens']}/{plan['overlapTokens']} tokens)",
        "embedder": f"bench/peers/hashing.py ({DIMENSION} dimensions)",
        "ingest": {**rates(ingest_s, len(docs), chunks), "indexResult": dict(result)},
        "reflect": {
            "seconds": round(reflect_s, 3), "updated": len(plan["updates"]), "deleted": len(plan["deletes"]), "indexResult": dict(changed), "deletedChunks": len(keys),
            **reflected(updates_not_shown, deletes_not_shown),
        },
        "exactness": exactness(index_view, live, plan["deletes"], splitter.split_text),
        "peakRssMb": peak_rss_mb(),
    })
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
