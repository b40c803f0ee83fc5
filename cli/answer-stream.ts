import type { SseEvent } from './sse.ts';

/**
 * Reading the answer stream of POST /v1/ask (SSE). Text arrives as deltas; citations, steps and
 * the final answer may arrive in their own events or in the last one; an `error` event means the
 * answer failed mid-stream and must not be shown as complete.
 */

export type AskEvent =
  | { kind: 'delta'; text: string }
  | { kind: 'meta'; data: Record<string, unknown> }
  | { kind: 'done'; data: Record<string, unknown> }
  | { kind: 'error'; data: unknown }
  | { kind: 'ignore' };

const DELTA_EVENTS = new Set(['delta', 'token', 'text', 'chunk', 'content']);
const DONE_EVENTS = new Set(['done', 'end', 'final', 'result', 'answer', 'complete', 'completed']);

export function interpretAskEvent(ev: SseEvent): AskEvent {
  if (ev.data.trim() === '[DONE]') return { kind: 'done', data: {} };
  let data: unknown;
  try { data = JSON.parse(ev.data); } catch { data = undefined; }
  if (ev.event === 'error') return { kind: 'error', data: data ?? ev.data };
  if (data === undefined) {
    return DELTA_EVENTS.has(ev.event) || ev.event === 'message' ? { kind: 'delta', text: ev.data } : { kind: 'ignore' };
  }
  if (DELTA_EVENTS.has(ev.event)) {
    const text = deltaText(data, true);
    return text === null ? { kind: 'ignore' } : { kind: 'delta', text };
  }
  const obj = asObject(data, ev.event);
  if (DONE_EVENTS.has(ev.event)) return { kind: 'done', data: obj };
  if (ev.event === 'message') {
    const text = deltaText(data, false);
    if (text !== null) return { kind: 'delta', text };
    if (obj['error'] !== undefined && obj['answer'] === undefined) return { kind: 'error', data: obj };
  }
  return { kind: 'meta', data: obj };
}

/** The text of a delta event: a string, `{delta}`, `{token}`, `{text}`, or OpenAI `choices[0].delta.content`. */
function deltaText(data: unknown, loose: boolean): string | null {
  if (typeof data === 'string') return data;
  if (!data || typeof data !== 'object') return null;
  const o = data as Record<string, unknown>;
  for (const k of ['delta', 'token']) if (typeof o[k] === 'string') return o[k];
  const choices = o['choices'];
  if (Array.isArray(choices)) {
    const c = (choices[0] as { delta?: { content?: unknown } } | undefined)?.delta?.content;
    return typeof c === 'string' ? c : '';
  }
  if (loose || (o['citations'] === undefined && o['sources'] === undefined && o['answer'] === undefined)) {
    for (const k of ['text', 'content']) if (typeof o[k] === 'string') return o[k];
  }
  return null;
}

/** Named events carrying a bare array (e.g. `event: citations` + `[...]`) become `{citations: [...]}`. */
function asObject(data: unknown, event: string): Record<string, unknown> {
  if (Array.isArray(data)) return { [event === 'sources' ? 'citations' : event]: data };
  if (data && typeof data === 'object') return data as Record<string, unknown>;
  return { [event]: data };
}

/** What a finished answer says about itself. */
export interface AnswerInfo {
  answer: string | undefined;
  citations: unknown[];
  steps: unknown;
  extractive: boolean;
}

export function answerInfo(...parts: Array<Record<string, unknown>>): AnswerInfo {
  const info: AnswerInfo = { answer: undefined, citations: [], steps: undefined, extractive: false };
  for (const p of parts) {
    const answer = p['answer'] ?? p['text'];
    if (typeof answer === 'string') info.answer = answer;
    const cites = [p['citations'], p['sources'], p['hits'], p['context']].find(Array.isArray) as unknown[] | undefined;
    if (cites) info.citations = cites;
    if (p['steps'] !== undefined) info.steps = p['steps'];
    if (p['extractive'] === true || p['mode'] === 'extractive' || p['generator'] === 'extractive' || p['answerMode'] === 'extractive') info.extractive = true;
  }
  return info;
}
