/** Seeded, deterministic test text with the structures and characters chunking has to survive. */

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 0x1_0000_0000;
  };
}

const WORDS = 'the a of to and in is that for on with as by stream kafka consumer offset partition vector index embedding chunk token latency throughput replica document change capture retrieval answer model prompt server request batch retry backoff schema registry event topic naïve café Zürich'.split(' ');
const ODD = ['(see below)', '"quoted"', '—', '42', '3.14', '2024-01-15', 'v1.2.3', 'e.g.', 'U.S.', '東京', 'データ', '🔥', '👩‍💻', '<|endoftext|>', 'https://example.com/a?b=1', '`inline()`', '#hashtag', '@mention', '$9.99', '100%', 'x²', '...'];

export function sentence(r: () => number): string {
  const n = 4 + Math.floor(r() * 22);
  const words: string[] = [];
  for (let i = 0; i < n; i++) words.push(r() < 0.12 ? ODD[Math.floor(r() * ODD.length)]! : WORDS[Math.floor(r() * WORDS.length)]!);
  const first = words[0]!;
  words[0] = r() < 0.1 ? String(Math.floor(r() * 1000)) : first[0]!.toUpperCase() + first.slice(1);
  const end = ['.', '.', '.', '!', '?', '…', '."', '.)', ':'][Math.floor(r() * 9)]!;
  return words.join(' ') + end;
}

function paragraph(r: () => number): string {
  const n = 1 + Math.floor(r() * 7);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(sentence(r));
  return parts.join(r() < 0.2 ? '\n' : ' ');
}

function code(r: () => number): string {
  const lines: string[] = [];
  const n = 2 + Math.floor(r() * 30);
  for (let i = 0; i < n; i++) {
    const indent = '  '.repeat(Math.floor(r() * 4));
    const kind = r();
    if (kind < 0.1) lines.push('');
    else if (kind < 0.2) lines.push(`${indent}// ${sentence(r)}`);
    else if (kind < 0.3) lines.push(`${indent}}`);
    else lines.push(`${indent}const v${i} = compute(${Math.floor(r() * 100)}, "${WORDS[i % WORDS.length]}");`);
  }
  return lines.join('\n');
}

export function document(r: () => number, targetChars: number): string {
  const blocks: string[] = [];
  let size = 0;
  while (size < targetChars) {
    const k = r();
    let b: string;
    if (k < 0.1) {
      b = `${'#'.repeat(1 + Math.floor(r() * 3))} ${sentence(r).slice(0, 40).replace(/[.!?…:"')]+$/, '')}`;
    } else if (k < 0.2) b = `\`\`\`ts\n${code(r)}\n\`\`\``;
    else if (k < 0.3) b = Array.from({ length: 2 + Math.floor(r() * 6) }, () => `- ${sentence(r)}`).join('\n');
    else if (k < 0.35) b = Array.from({ length: 2 + Math.floor(r() * 5) }, (_, i) => `| ${i} | ${sentence(r).slice(0, 30)} |`).join('\n');
    else if (k < 0.38) b = Array.from({ length: 40 + Math.floor(r() * 200) }, () => 'abcdefghij'[Math.floor(r() * 10)]).join(''); // a long unbroken token run
    else b = paragraph(r);
    blocks.push(b);
    size += b.length + 2;
  }
  return blocks.join('\n\n');
}
