import { describe, expect, it } from 'vitest';
import { answerInfo, interpretAskEvent } from '../../cli/answer-stream.ts';
import { readSse, SseParser } from '../../cli/sse.ts';

describe('SseParser', () => {
  it('parses events split anywhere across chunks, with CRLF, comments and multi-line data', () => {
    const text = ': keep-alive\r\nevent: delta\r\ndata: {"text":"Hel"}\r\n\r\nevent: delta\ndata: {"text":"lo"}\n\ndata: line 1\ndata: line 2\nid: 7\n\n';
    const p = new SseParser();
    const events = [];
    for (const ch of text) events.push(...p.push(ch));
    events.push(...p.end());
    expect(events).toEqual([
      { event: 'delta', data: '{"text":"Hel"}', id: undefined },
      { event: 'delta', data: '{"text":"lo"}', id: undefined },
      { event: 'message', data: 'line 1\nline 2', id: '7' },
    ]);
  });

  it('drops an event not terminated by a blank line at the end of the stream', () => {
    const p = new SseParser();
    expect(p.push('event: done\ndata: {}')).toEqual([]);
    expect(p.end()).toEqual([]);
  });

  it('reads a byte stream, including multi-byte characters split between chunks', async () => {
    const bytes = new TextEncoder().encode('data: café ✓\n\n');
    const body = new ReadableStream<Uint8Array>({
      start(c) { c.enqueue(bytes.slice(0, 10)); c.enqueue(bytes.slice(10)); c.close(); },
    });
    const out = [];
    for await (const ev of readSse(body)) out.push(ev.data);
    expect(out).toEqual(['café ✓']);
  });
});

describe('interpretAskEvent', () => {
  const ev = (event: string, data: string) => ({ event, data, id: undefined });

  it('reads the API stream: sources, deltas, done, error', () => {
    expect(interpretAskEvent(ev('sources', '{"sources":[{"docId":"d"}]}'))).toEqual({ kind: 'meta', data: { sources: [{ docId: 'd' }] } });
    expect(interpretAskEvent(ev('delta', '{"text":"Hi"}'))).toEqual({ kind: 'delta', text: 'Hi' });
    expect(interpretAskEvent(ev('done', '{"answer":"Hi","mode":"extractive"}'))).toEqual({ kind: 'done', data: { answer: 'Hi', mode: 'extractive' } });
    expect(interpretAskEvent(ev('error', '{"error":{"code":"LLM_UNAVAILABLE","message":"x"}}'))).toMatchObject({ kind: 'error' });
  });

  it('accepts OpenAI-style chunks, plain-text deltas and [DONE]', () => {
    expect(interpretAskEvent(ev('message', '{"choices":[{"delta":{"content":"x"}}]}'))).toEqual({ kind: 'delta', text: 'x' });
    expect(interpretAskEvent(ev('message', 'plain words'))).toEqual({ kind: 'delta', text: 'plain words' });
    expect(interpretAskEvent(ev('message', '[DONE]'))).toEqual({ kind: 'done', data: {} });
    expect(interpretAskEvent(ev('citations', '[{"docId":"d"}]'))).toEqual({ kind: 'meta', data: { citations: [{ docId: 'd' }] } });
  });

  it('collects the answer, sources, steps and extractive mode from the events', () => {
    const info = answerInfo({ sources: [{ docId: 'd' }] }, { answer: 'A [1]', mode: 'extractive', steps: { search: { variants: 1 } } });
    expect(info).toEqual({ answer: 'A [1]', citations: [{ docId: 'd' }], steps: { search: { variants: 1 } }, extractive: true });
  });
});
