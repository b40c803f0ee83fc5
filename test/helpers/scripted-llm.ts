import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real OpenAI-compatible chat server (POST /v1/chat/completions, JSON answers, or SSE chunks with
 * `stream: true`) whose replies a test scripts by the prompt: `reply(system, user)` sees the system
 * message and the last user message. Every request's messages are recorded.
 */
export interface ScriptedLlm {
  /** e.g. http://127.0.0.1:41234/v1 */
  readonly baseUrl: string;
  readonly calls: Array<{ messages: Array<{ role: string; content: string }> }>;
  reply: (system: string, user: string) => string;
  close(): Promise<void>;
}

export async function startScriptedLlm(reply: (system: string, user: string) => string): Promise<ScriptedLlm> {
  const calls: ScriptedLlm['calls'] = [];
  const state = { reply };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const chat = JSON.parse(body) as ScriptedLlm['calls'][number] & { stream?: boolean };
      calls.push(chat);
      const text = state.reply(chat.messages[0]!.content, chat.messages.at(-1)!.content);
      if (chat.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const chunk = (delta: Record<string, string>, finish: string | null) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'scripted', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
        for (const piece of text.match(/.{1,12}/gs) ?? []) res.write(chunk({ content: piece }, null));
        res.end(`${chunk({}, 'stop')}data: [DONE]\n\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'c', object: 'chat.completion', created: 0, model: 'scripted',
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    calls,
    get reply() { return state.reply; },
    set reply(fn) { state.reply = fn; },
    close: () => new Promise<void>((r) => { server.close(() => r()); }),
  };
}

/** The judge's scores as the scripted model gives them. */
export const JUDGE_SCORES = '{"groundedness": {"score": 5, "reason": "every claim is in [1]"}, "answerRelevance": {"score": 4, "reason": "answers it"}, "contextRelevance": {"score": 3, "reason": "one passage holds it"}}';
