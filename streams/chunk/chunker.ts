/**
 * One chunker per category: the same packer over a category-specific reading of the text.
 *   article     markdown structure (headings, lists, code, tables)
 *   post        no headings ("#" starts hashtags); a short post is one chunk
 *   repository  markdown for READMEs and docs; a source file (code without markdown) is read as
 *               line-oriented blocks, never split by sentences; code-like paragraphs likewise
 *   generic     as article
 */
import { KNOWN_CATEGORIES } from '../../schemas/content.ts';
import { looksLikeCode, parseBlocks, type BlockProfile } from './blocks.ts';
import { packBlocks, type Chunk, type ChunkOptions } from './pack.ts';

export type ChunkerName = (typeof KNOWN_CATEGORIES)[number] | 'generic';

export interface Chunker {
  readonly name: ChunkerName;
  chunk(text: string, options: ChunkOptions): Chunk[];
}

const MARKDOWN: BlockProfile = { headings: true, lists: true, codeLikeParagraphs: false, allLines: false };
const POST: BlockProfile = { headings: false, lists: true, codeLikeParagraphs: false, allLines: false };
const REPOSITORY_DOCS: BlockProfile = { headings: true, lists: true, codeLikeParagraphs: true, allLines: false };
const SOURCE_FILE: BlockProfile = { headings: false, lists: false, codeLikeParagraphs: true, allLines: true };

const FENCE_LINE = /^ {0,3}(?:```|~~~)/m;

/** A repository text is a source file when it has no fences and most of its lines look like code. */
function isSourceFile(text: string): boolean {
  if (FENCE_LINE.test(text)) return false;
  return looksLikeCode(text.split('\n'));
}

function chunker(name: ChunkerName, profileOf: (text: string) => BlockProfile): Chunker {
  return {
    name,
    chunk(text: string, options: ChunkOptions): Chunk[] {
      if (text.trim() === '') return [];
      return packBlocks(parseBlocks(text, profileOf(text)), options);
    },
  };
}

const CHUNKERS: Readonly<Record<ChunkerName, Chunker>> = {
  article: chunker('article', () => MARKDOWN),
  post: chunker('post', () => POST),
  repository: chunker('repository', (text) => (isSourceFile(text) ? SOURCE_FILE : REPOSITORY_DOCS)),
  generic: chunker('generic', () => MARKDOWN),
};

/** The chunker for a category; categories without a dedicated chunker get the generic one. */
export function chunkerFor(category: string): Chunker {
  return Object.hasOwn(CHUNKERS, category) ? CHUNKERS[category as ChunkerName] : CHUNKERS.generic;
}
