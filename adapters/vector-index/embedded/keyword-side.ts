import type { StatementSync } from 'node:sqlite';
import type { SearchFilter } from '../../../ports/vector-index.ts';
import { filterSql } from './filter-sql.ts';
import { matchExpression, queryTerms, quoteTerm } from './fts-query.ts';
import type { Statements } from './index-database.ts';
import { TermPruning, type TermPruningOptions } from './term-pruning.ts';

/**
 * The keyword side of search: FTS5 BM25 over a sanitised OR query (fts-query.ts), with very common
 * words pruned on large indexes (term-pruning.ts), filtered by joining the narrow `chunks` table.
 */
export class KeywordSide {
  private readonly pruning: TermPruning;
  private readonly stmts: () => Statements;
  private readonly statement: (key: string, sql: () => string) => StatementSync;

  /** `stmts` and `statement` give the connection's prepared statements (cached per filter shape). */
  constructor(stmts: () => Statements, statement: (key: string, sql: () => string) => StatementSync, pruning: Partial<Omit<TermPruningOptions, 'probe'>> = {}) {
    this.stmts = stmts;
    this.statement = statement;
    this.pruning = new TermPruning({
      probe: (expr, cap) => (this.stmts().dfProbe.get(expr, cap) as { n: number }).n,
      ...pruning,
    });
  }

  /** Top `n` chunk keys by BM25, among those passing the filter. */
  search(text: string, n: number, filter: SearchFilter | undefined): number[] {
    const terms = queryTerms(text);
    if (terms.length === 0) return [];
    const chunks = (this.stmts().chunkCount.get() as { chunks: number }).chunks;
    const kept = this.pruning.select(terms.map((term) => ({ term, expression: quoteTerm(term) })), chunks);
    const expr = matchExpression(kept);
    if (expr === null) return [];
    const f = filterSql(filter);
    const st = this.statement(`fts:${f.shape}`, () => (f.where === '1'
      ? 'SELECT f.rowid AS pk, bm25(chunk_fts) AS score FROM chunk_fts f WHERE chunk_fts MATCH ? ORDER BY score LIMIT ?'
      : `SELECT f.rowid AS pk, bm25(chunk_fts) AS score FROM chunk_fts f JOIN chunks c ON c.pk = f.rowid
         WHERE chunk_fts MATCH ? AND ${f.where} ORDER BY score LIMIT ?`));
    return (st.all(expr, ...f.params, n) as Array<{ pk: number }>).map((r) => r.pk);
  }
}
