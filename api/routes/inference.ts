import { z } from 'zod';
import type { FastifyPluginAsync } from 'fastify';
import { TributaryError } from '../../ports/errors.ts';
import { LogEvents } from '../../observability/metrics.ts';
import { INFERENCE_ENDPOINTS, type InferenceEndpoint, type InferenceGateway } from '../../inference/gateway.ts';
import type { ApiContext } from '../context.ts';
import type { AccessControl } from '../plugins/auth.ts';
import { errorBodySchema } from '../errors.ts';
import { abortOnDisconnect } from '../sse.ts';

/** The parsed body of an inference request: the bytes as received (sent on unchanged) and the two fields routing needs. */
interface InferenceBody {
  raw: Buffer;
  model: string;
  stream: boolean;
}

const SUMMARIES: Record<InferenceEndpoint, string> = {
  'chat/completions': 'OpenAI-compatible chat completions, proxied to an upstream serving `model`',
  completions: 'OpenAI-compatible (legacy) completions, proxied to an upstream serving `model`',
  embeddings: 'OpenAI-compatible embeddings, proxied to an upstream serving `model`',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The OpenAI-compatible inference proxy. Request bodies are sent to the upstream byte for byte
 * (unknown fields and number formatting kept); responses are piped as they arrive. Its own body
 * parser (this plugin is encapsulated) keeps the raw bytes and reads only `model` and `stream`.
 */
export const inferenceRoutes: FastifyPluginAsync<{ ctx: ApiContext; gateway: InferenceGateway | null; access: AccessControl }> = async (app, { ctx, gateway, access }) => {
  const { settings: config } = ctx;
  const affinityHeader = config.inferenceAffinityHeader === 'none' ? null : config.inferenceAffinityHeader;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: config.bodyLimitBytes }, (_request, body, done) => {
    try {
      done(null, parseInferenceBody(body as Buffer));
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  app.get('/v1/models', {
    schema: {
      tags: ['inference'],
      summary: 'The models the upstreams serve (their union), in the OpenAI list format',
      response: { 200: z.object({ object: z.literal('list'), data: z.array(z.object({ id: z.string(), object: z.literal('model'), created: z.number(), owned_by: z.string() })) }) },
    },
  }, async () => ({ object: 'list' as const, data: gateway?.modelList() ?? [] }));

  for (const endpoint of INFERENCE_ENDPOINTS) {
    app.post(`/v1/${endpoint}`, {
      schema: {
        tags: ['inference'],
        summary: SUMMARIES[endpoint],
        description: 'The body is any OpenAI request with a `model`; it reaches the upstream unchanged. With `stream: true` the answer is '
          + 'Server-Sent Events, piped as the upstream sends them; if the upstream fails after the first byte the stream carries '
          + '`data: {"error": {...}}` and ends without `[DONE]`. '
          + (affinityHeader ? `Send \`${affinityHeader}\` to keep a conversation on one upstream (prefix cache). ` : '')
          + 'Errors before the first byte: 404 UNKNOWN_MODEL (lists the known models), 429 INFERENCE_OVERLOADED, 503 '
          + 'INFERENCE_QUEUE_TIMEOUT / INFERENCE_UNAVAILABLE (with Retry-After), 504 TIMEOUT; an upstream\'s own 4xx is passed on as it is.',
        response: { 400: errorBodySchema, 404: errorBodySchema, 413: errorBodySchema, 415: errorBodySchema, 429: errorBodySchema, 503: errorBodySchema, 504: errorBodySchema },
      },
    }, async (request, reply) => {
      // no body at all never reaches the parser: refused the same way as an empty one (not a 500)
      const { raw, model, stream } = (request.body as InferenceBody | undefined) ?? parseInferenceBody(Buffer.alloc(0));
      if (!gateway) {
        throw new TributaryError('UNKNOWN_MODEL', `model "${model}" is not served here: no inference upstreams are configured (set TRIBUTARY_INFERENCE_UPSTREAMS)`, { details: { known: [] } });
      }
      if (config.inferenceLogPrompts) request.log.info({ event: LogEvents.inferencePrompt, model, body: raw.toString('utf8') });
      const ac = abortOnDisconnect(reply.raw);
      // the upstream gets the trace context of the gateway's span (a child of this request's, which
      // continues the client's traceparent); the client's Authorization never reaches it
      const affinity = affinityHeader ? request.headers[affinityHeader] : undefined;
      const exchange = await gateway.send({
        endpoint, model, body: raw, stream, requestId: request.id, signal: ac.signal,
        affinityKey: typeof affinity === 'string' && affinity !== '' ? affinity : undefined,
      });
      reply.hijack();
      const summary = await exchange.pipeTo(reply.raw, { 'x-request-id': request.id });
      access.chargeTokens(request, summary.usage.promptTokens + summary.usage.completionTokens);
      return reply;
    });
  }
};

/** Strict UTF-8 JSON object with a string `model`; the bytes are kept as received. */
export function parseInferenceBody(raw: Buffer): InferenceBody {
  if (raw.byteLength === 0) {
    throw new TributaryError('INVALID_INPUT', 'request body is empty; expected a JSON object with a "model"', { details: [{ path: 'body', message: 'is required' }] });
  }
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new TributaryError('INVALID_UTF8', 'request body is not valid UTF-8; send JSON encoded as UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TributaryError('INVALID_INPUT', `request body is not valid JSON: ${(e as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new TributaryError('INVALID_INPUT', 'request body must be a JSON object', { details: [{ path: 'body', message: 'expected object' }] });
  }
  const { model, stream } = json as { model?: unknown; stream?: unknown };
  if (typeof model !== 'string' || model === '') {
    throw new TributaryError('INVALID_INPUT', 'invalid request body: model: is required (a model id, see GET /v1/models)', { details: [{ path: 'model', message: model === undefined ? 'is required' : 'expected a non-empty string' }] });
  }
  if (stream !== undefined && stream !== null && typeof stream !== 'boolean') {
    throw new TributaryError('INVALID_INPUT', 'invalid request body: stream: expected boolean', { details: [{ path: 'stream', message: 'expected boolean' }] });
  }
  return { raw, model, stream: stream === true };
}
