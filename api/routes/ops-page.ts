import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

/**
 * The operators' page, /ops: a static shell (HTML, script, style) and the chart library, uPlot, from
 * node_modules. No build step and no data in any of it, so these routes are open
 * (auth/route-scopes.ts): the page's script calls the admin JSON routes with the key typed into the
 * page (or none, when the server runs without keys).
 *
 * The files are read once, when the app is built. The page may run only its own scripts (a
 * Content-Security-Policy without inline script), on top of writing every value as text.
 */

const require = createRequire(import.meta.url);
const PAGE_DIR = new URL('../ops-page/', import.meta.url);

const CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:",
  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

interface Asset {
  url: string;
  file: string;
  /** The media type, for the document. */
  media: string;
  charset: boolean;
  summary: string;
}

const ASSETS: readonly Asset[] = [
  { url: '/ops', file: fileURLToPath(new URL('index.html', PAGE_DIR)), media: 'text/html', charset: true, summary: 'The operators\' page: lag, freshness, the DLQ, fine-tuning and RAG traces (its data needs an admin key, typed into the page)' },
  { url: '/ops/ops.js', file: fileURLToPath(new URL('ops.js', PAGE_DIR)), media: 'text/javascript', charset: true, summary: 'The operators\' page: its script' },
  { url: '/ops/time-axis.js', file: fileURLToPath(new URL('time-axis.js', PAGE_DIR)), media: 'text/javascript', charset: true, summary: 'The operators\' page: its charts\' time axis (the last hour)' },
  { url: '/ops/ops.css', file: fileURLToPath(new URL('ops.css', PAGE_DIR)), media: 'text/css', charset: true, summary: 'The operators\' page: its style' },
  { url: '/ops/uplot.js', file: require.resolve('uplot/dist/uPlot.iife.min.js'), media: 'text/javascript', charset: true, summary: 'The operators\' page: uPlot, the chart library (MIT)' },
  { url: '/ops/uplot.css', file: require.resolve('uplot/dist/uPlot.min.css'), media: 'text/css', charset: true, summary: 'The operators\' page: uPlot\'s style' },
];

export const opsPageRoutes: FastifyPluginAsyncZod = async (app) => {
  for (const asset of ASSETS) {
    const body = readFileSync(asset.file, 'utf8');
    const contentType = asset.charset ? `${asset.media}; charset=utf-8` : asset.media;
    app.get(asset.url, {
      schema: {
        tags: ['ops'],
        summary: asset.summary,
        response: { 200: { description: asset.summary, content: { [asset.media]: { schema: z.string() } } } },
      },
    }, async (_request, reply) => {
      reply
        .header('content-type', contentType)
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff');
      if (asset.media === 'text/html') reply.header('content-security-policy', CSP).header('referrer-policy', 'no-referrer');
      return reply.send(body);
    });
  }
};
