import { glob, readFile, stat } from 'node:fs/promises';
import { basename, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { describeIssues } from '../common/zod-issues.ts';
import { contentItemSchema, MAX_CONTENT_CHARS, type ContentItem } from '../schemas/content.ts';

/**
 * From files on disk to content items: expanding globs, inferring a category from the file type,
 * finding a title, and turning JSON files of items into one document per item. Pure helpers apart
 * from `collectFiles` and `readTextFile`.
 */

const ARTICLE_EXTENSIONS = new Set(['.md', '.markdown', '.mdx', '.txt', '.text', '.rst', '.adoc', '.html', '.htm', '.xhtml']);
const CODE_EXTENSIONS = new Set([
  '.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs', '.py', '.ipynb', '.go', '.rs', '.java', '.kt', '.kts', '.scala',
  '.c', '.h', '.cc', '.cpp', '.cxx', '.hpp', '.cs', '.fs', '.rb', '.php', '.swift', '.m', '.lua', '.pl', '.r', '.jl', '.dart',
  '.ex', '.exs', '.erl', '.clj', '.hs', '.ml', '.zig', '.nim', '.sh', '.bash', '.zsh', '.ps1', '.sql', '.graphql', '.proto',
  '.yaml', '.yml', '.toml', '.ini', '.cfg', '.conf', '.json', '.jsonc', '.xml', '.gradle', '.tf', '.hcl', '.css', '.scss',
  '.vue', '.svelte',
]);
const CODE_FILE_NAMES = new Set(['dockerfile', 'makefile', 'justfile', 'rakefile', 'gemfile', 'procfile', 'jenkinsfile']);
const MARKDOWN_EXTENSIONS = new Set(['.md', '.markdown', '.mdx', '.txt', '.text', '.rst', '.adoc']);
const HTML_EXTENSIONS = new Set(['.html', '.htm', '.xhtml']);

/** Category for a file, from its extension: prose → article, code and config → repository; null when unknown. */
export function inferCategory(fileName: string): 'article' | 'repository' | null {
  const ext = extname(fileName).toLowerCase();
  if (ARTICLE_EXTENSIONS.has(ext)) return 'article';
  if (CODE_EXTENSIONS.has(ext)) return 'repository';
  if (ext === '' && CODE_FILE_NAMES.has(basename(fileName).toLowerCase())) return 'repository';
  return null;
}

/**
 * The document title: front-matter `title:`, else the first Markdown heading (ATX `# x` or setext,
 * ignoring fenced code), for HTML `<title>` or the first `<h1>`; else the file name.
 */
export function extractTitle(text: string, fileName: string): string {
  const ext = extname(fileName).toLowerCase();
  const found = HTML_EXTENSIONS.has(ext) ? htmlTitle(text) : MARKDOWN_EXTENSIONS.has(ext) ? markdownTitle(text) : null;
  const title = (found ?? basename(fileName)).trim();
  return [...title].slice(0, 300).join('');
}

export function markdownTitle(text: string): string | null {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let i = 0;
  if (lines[0]?.trim() === '---') {
    for (i = 1; i < lines.length && lines[i]!.trim() !== '---'; i++) {
      const m = /^title:\s*(.+?)\s*$/.exec(lines[i]!);
      if (m) return unquote(m[1]!);
    }
    i++;
  }
  let fence: string | null = null;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    const f = /^\s{0,3}(```+|~~~+)/.exec(line);
    if (f) {
      if (fence === null) fence = f[1]![0]!;
      else if (f[1]![0] === fence) fence = null;
      continue;
    }
    if (fence !== null) continue;
    const atx = /^\s{0,3}#{1,6}\s+(.+?)(?:\s+#+)?\s*$/.exec(line);
    if (atx) return stripInlineMarkdown(atx[1]!);
    const next = lines[i + 1];
    if (line.trim() !== '' && next !== undefined && /^\s{0,3}(=+|-{2,})\s*$/.test(next) && !/^\s{0,3}([-*_]\s*){3,}$/.test(line)) {
      return stripInlineMarkdown(line.trim());
    }
  }
  return null;
}

export function htmlTitle(html: string): string | null {
  const m = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(html) ?? /<h1[^>]*>([\s\S]*?)<\/h1>/i.exec(html);
  if (!m) return null;
  const text = decodeEntities(m[1]!.replace(/<[^>]+>/g, '')).replace(/\s+/g, ' ').trim();
  return text || null;
}

function stripInlineMarkdown(s: string): string {
  return s.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*_]/g, '').trim();
}

function unquote(s: string): string {
  return /^(['"]).*\1$/.test(s) ? s.slice(1, -1) : s;
}

function decodeEntities(s: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return named[e.toLowerCase()] ?? whole;
  });
}

export interface ItemDefaults {
  /** Overrides the inferred category for plain files; fills in JSON items that have none. */
  category?: string;
  author: string;
  source: string;
  /** Base URL: a plain file's url = base + its relative path (files inside the current directory). */
  urlBase?: string;
}

/** One item ready to send: the item, where it came from (for messages) and its size. */
export interface PreparedItem {
  item: ContentItem;
  label: string;
  bytes: number;
}

export interface FileResult {
  items: PreparedItem[];
  /** Why the whole file was skipped, if it was. */
  skipped?: string;
  /** Items of the file that failed validation before sending. */
  invalid: Array<{ label: string; error: string }>;
}

/**
 * A file's documents. `relPath` (POSIX separators) becomes the externalId. A JSON file holding
 * item objects (`{category, ...}`; an array, `{items: [...]}` or one object) yields one document
 * per item, as given; any other file is one document.
 */
export function fileToItems(file: { relPath: string; text: string; bytes: number }, defaults: ItemDefaults): FileResult {
  const name = basename(file.relPath);
  if (extname(name).toLowerCase() === '.json') {
    const items = jsonItems(file.text);
    if (items) return fromJsonItems(items, file.relPath, defaults);
  }
  const category = defaults.category ?? inferCategory(name);
  if (!category) return { items: [], invalid: [], skipped: `unknown file type "${extname(name) || name}" (pass --category to ingest it)` };
  if (file.text.trim() === '') return { items: [], invalid: [], skipped: 'empty file' };
  if (file.text.length > MAX_CONTENT_CHARS) return { items: [], invalid: [], skipped: `longer than ${MAX_CONTENT_CHARS} characters` };
  const raw: Record<string, unknown> = {
    category,
    author: defaults.author,
    title: extractTitle(file.text, name),
    content: file.text,
    source: defaults.source,
    externalId: file.relPath,
  };
  // a file outside the current directory has no place under the base URL
  if (defaults.urlBase && !file.relPath.startsWith('/')) raw['url'] = documentUrl(defaults.urlBase, file.relPath);
  return validate([{ raw, label: file.relPath, bytes: file.bytes }]);
}

function jsonItems(text: string): Record<string, unknown>[] | null {
  let parsed: unknown;
  try { parsed = JSON.parse(text); } catch { return null; }
  const list = Array.isArray(parsed) ? parsed
    : parsed && typeof parsed === 'object' && Array.isArray((parsed as { items?: unknown }).items) ? (parsed as { items: unknown[] }).items
      : [parsed];
  const isItem = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { category?: unknown }).category === 'string';
  return list.length > 0 && list.every(isItem) ? (list as Record<string, unknown>[]) : null;
}

function fromJsonItems(items: Record<string, unknown>[], relPath: string, defaults: ItemDefaults): FileResult {
  return validate(items.map((it, i) => {
    const raw: Record<string, unknown> = { ...it };
    raw['author'] ??= defaults.author;
    raw['source'] ??= defaults.source;
    raw['externalId'] ??= `${relPath}#${i}`;
    const label = `${relPath}#${typeof it['externalId'] === 'string' ? it['externalId'] : i}`;
    return { raw, label, bytes: Buffer.byteLength(typeof it['content'] === 'string' ? it['content'] : '') };
  }));
}

function validate(candidates: Array<{ raw: Record<string, unknown>; label: string; bytes: number }>): FileResult {
  const out: FileResult = { items: [], invalid: [] };
  for (const c of candidates) {
    const parsed = contentItemSchema.safeParse(c.raw);
    if (parsed.success) out.items.push({ item: parsed.data, label: c.label, bytes: c.bytes });
    else out.invalid.push({ label: c.label, error: describeIssues(parsed.error.issues, 'item') });
  }
  return out;
}

/** base + relative path, each segment URL-encoded; the base is treated as a directory. */
export function documentUrl(base: string, relPath: string): string {
  const dir = base.endsWith('/') ? base : `${base}/`;
  return new URL(relPath.split('/').map(encodeURIComponent).join('/'), dir).href;
}

/**
 * Splits items into request batches of at most `maxItems` items and about `maxBytes` bytes
 * (an item larger than `maxBytes` goes alone). Order is kept.
 */
export function batchItems<T>(items: readonly T[], sizeOf: (item: T) => number, limits: { maxItems: number; maxBytes: number }): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length > 0 && (current.length >= limits.maxItems || bytes + size > limits.maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Files and folders excluded from glob and directory expansion (explicitly named files are kept). */
const IGNORED_DIRS = new Set(['node_modules', '.git', '.hg', '.svn', 'dist', 'build', 'coverage', '.next', '.cache', '__pycache__', '.venv']);

function isIgnored(path: string): boolean {
  return path.split(/[\\/]/).some((seg) => IGNORED_DIRS.has(seg));
}

export interface CollectedFiles {
  /** Absolute paths, sorted, without duplicates. */
  files: string[];
  /** Arguments that matched nothing. */
  unmatched: string[];
}

/** Expands file names, directories (recursively) and glob patterns (fs.glob), relative to `cwd`. */
export async function collectFiles(patterns: string[], cwd: string): Promise<CollectedFiles> {
  const files = new Set<string>();
  const unmatched: string[] = [];
  for (const pattern of patterns) {
    const abs = isAbsolute(pattern) ? pattern : resolve(cwd, pattern);
    const st = await stat(abs).catch(() => null);
    let found = 0;
    if (st?.isFile()) {
      files.add(abs);
      found = 1;
    } else {
      const globPattern = st?.isDirectory() ? join(pattern, '**', '*') : pattern;
      for await (const entry of glob(globPattern, { cwd, withFileTypes: true, exclude: (d) => IGNORED_DIRS.has(d.name) })) {
        const path = join(entry.parentPath, entry.name);
        if (!entry.isFile() || isIgnored(relative(cwd, path))) continue;
        files.add(resolve(cwd, path));
        found++;
      }
    }
    if (found === 0) unmatched.push(pattern);
  }
  return { files: [...files].sort(), unmatched };
}

/** The path used as externalId: relative to `cwd`, POSIX separators; absolute when outside `cwd`. */
export function relativeId(absPath: string, cwd: string): string {
  const rel = relative(cwd, absPath);
  const inside = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  return (inside ? rel : absPath).split(sep).join('/');
}

export type ReadResult = { text: string; bytes: number } | { skipped: string };

/** Reads a file as UTF-8 text; binary files and invalid UTF-8 are reported, not sent. */
export async function readTextFile(path: string): Promise<ReadResult> {
  const buf = await readFile(path);
  return decodeText(buf);
}

export function decodeText(buf: Uint8Array): ReadResult {
  if (buf.subarray(0, 8192).includes(0)) return { skipped: 'binary file' };
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(buf);
    return { text, bytes: buf.byteLength };
  } catch {
    return { skipped: 'not valid UTF-8' };
  }
}

export interface LoadedItems {
  items: PreparedItem[];
  /** Files not sent, with the reason. */
  skipped: Array<{ label: string; reason: string }>;
  /** Documents that failed validation before sending. */
  invalid: Array<{ label: string; error: string }>;
}

/** Reads files and turns them into validated items (externalId = path relative to `cwd`). */
export async function loadItems(files: string[], cwd: string, defaults: ItemDefaults): Promise<LoadedItems> {
  const out: LoadedItems = { items: [], skipped: [], invalid: [] };
  for (const file of files) {
    const relPath = relativeId(file, cwd);
    const read = await readTextFile(file).catch((e: NodeJS.ErrnoException) => ({ skipped: e.code ?? e.message }));
    if ('skipped' in read) { out.skipped.push({ label: relPath, reason: read.skipped }); continue; }
    const text = read.text.replace(/^\uFEFF/, '');
    const r = fileToItems({ relPath, text, bytes: read.bytes }, defaults);
    if (r.skipped) out.skipped.push({ label: relPath, reason: r.skipped });
    out.items.push(...r.items);
    out.invalid.push(...r.invalid);
  }
  return out;
}
