"""LlamaIndex peer: an IngestionPipeline with a docstore for de-duplication and upserts, writing to
an in-memory vector store.

    python llamaindex_peer.py <corpus.jsonl> <plan.json>   → one JSON line on stdout

- Splitter: llama-index-core's SentenceSplitter (its default node parser), chunk_size / chunk_overlap
  in tokens from the plan, counted with LlamaIndex's default tokenizer: tiktoken's encoding for
  gpt-3.5-turbo, which is cl100k_base (the encoding Tributary's chunker counts in). The documents
  carry no metadata, so the whole budget goes to the text.
- Embedder: bench/peers/hashing.py as a LlamaIndex BaseEmbedding (a transformation of the pipeline).
- docstore: SimpleDocumentStore; vector store: SimpleVectorStore; docstore_strategy
  UPSERTS_AND_DELETE (document ids are the corpus ids).

Completion: `pipeline.run()` is synchronous; the ingest is done when it returns (every node is
embedded and in the vector store, every document hash in the docstore). Updates and deletes are one
more `run()` with the live documents, as the docs describe it: documents whose hash is unchanged are
skipped before any transformation, the 20 changed ones are deleted from the vector store and
transformed again, and the 20 that are no longer given are deleted (UPSERTS_AND_DELETE). The change
is reflected when a lookup shows it: the updated documents' nodes in the vector store are the new ones
(holding the marker) and the deleted documents have none left. As `run()` is synchronous, what the
lookup does not show then is never shown: reported as `reflected: false`, with the documents.
UPSERTS_AND_DELETE finds the documents to delete from `docstore.get_all_document_hashes()`, a map
from content hash to document id: of several documents with the same content (the same README in
several node_modules folders) it knows only one, so deleting the others is missed.
SimpleVectorStore keeps vectors and node → document ids but no text, so the text of each node the
pipeline wrote is taken from what `run()` returns, for the lookup and the exactness check.
"""

from __future__ import annotations

import sys

from common import emit, exactness, live_after, load_inputs, now, peak_rss_mb, rates, reflected, versions
from hashing import DIMENSION, embed, embed_many

from llama_index.core import Document
from llama_index.core.embeddings import BaseEmbedding
from llama_index.core.ingestion import DocstoreStrategy, IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.storage.docstore import SimpleDocumentStore
from llama_index.core.vector_stores import SimpleVectorStore


class HashingEmbedding(BaseEmbedding):
    def _get_query_embedding(self, query: str) -> list[float]:
        return embed(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return embed(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return embed(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return embed_many(texts)


def main() -> None:
    docs, plan = load_inputs(sys.argv)
    splitter = SentenceSplitter(chunk_size=plan["chunkTokens"], chunk_overlap=plan["overlapTokens"])
    vector_store = SimpleVectorStore()
    pipeline = IngestionPipeline(
        transformations=[splitter, HashingEmbedding(model_name="hashing-256")],
        docstore=SimpleDocumentStore(),
        vector_store=vector_store,
        docstore_strategy=DocstoreStrategy.UPSERTS_AND_DELETE,
    )
    texts: dict[str, str] = {}  # node id → text, from what run() returns

    def as_documents(items: dict[str, str]) -> list[Document]:
        return [Document(text=content, id_=doc_id) for doc_id, content in items.items()]

    # warm-up outside the timing, as Tributary's start-up is: the splitter loads NLTK's sentence
    # tokenizer (and its imports) on first use, several seconds
    splitter.split_text("Warm up. Two sentences.")
    t0 = now()
    nodes = pipeline.run(documents=as_documents({d["id"]: d["content"] for d in docs}))
    ingest_s = now() - t0
    texts.update((n.node_id, n.get_content()) for n in nodes)
    chunks = len(vector_store.data.embedding_dict)

    live = live_after(docs, plan)
    t0 = now()
    changed = pipeline.run(documents=as_documents(live))
    texts.update((n.node_id, n.get_content()) for n in changed)
    # the lookup that shows the changes
    by_doc: dict[str, list[str]] = {}
    for node_id, doc_id in vector_store.data.text_id_to_ref_doc_id.items():
        by_doc.setdefault(doc_id, []).append(node_id)
    updates_not_shown = [u["id"] for u in plan["updates"] if not any(u["marker"] in texts[n] for n in by_doc.get(u["id"], []))]
    deletes_not_shown = [d for d in plan["deletes"] if d in by_doc]
    reflect_s = now() - t0

    index_view = {doc_id: [texts[n] for n in node_ids] for doc_id, node_ids in by_doc.items()}
    emit({
        "system": "llamaindex",
        "versions": versions("llama-index-core", "tiktoken"),
        "splitter": f"SentenceSplitter({plan['chunkTokens']}/{plan['overlapTokens']} tokens, default tokenizer: tiktoken cl100k_base)",
        "embedder": f"bench/peers/hashing.py ({DIMENSION} dimensions)",
        "ingest": rates(ingest_s, len(docs), chunks),
        "reflect": {
            "seconds": round(reflect_s, 3), "updated": len(plan["updates"]), "deleted": len(plan["deletes"]), "nodesWritten": len(changed),
            **reflected(updates_not_shown, deletes_not_shown),
        },
        "exactness": exactness(index_view, live, plan["deletes"], splitter.split_text),
        "peakRssMb": peak_rss_mb(),
    })


if __name__ == "__main__":
    main()
