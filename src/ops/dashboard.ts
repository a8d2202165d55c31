/**
 * The web dashboard on the admin address (docs/dashboard.md):
 *
 *   GET /                          the page (public: it holds no data); `?token=` sets the cookie
 *   GET /assets/<file>             its bundle (public), built by `npm run build` into dist/web
 *   GET /dashboard/events          server-sent events: `hello`, then `commit` at most once a second
 *
 * The page reads its data from the processors' declared reports
 * (`GET /reports/<name>`, read-routes.ts) and the admin API (/status,
 * /health, /quarantine, POST /quarantine/requeue): no report logic lives
 * here. Every route is behind the admin gate (guard.ts): Host and Origin,
 * and off loopback the token, as a bearer header or as the HttpOnly cookie
 * the `?token=` link sets. Nothing here queries on a timer; a page
 * refetches when a `commit` event tells it to.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import type { AdminContext } from './admin.js';
import { tokenMatches } from './admin.js';
import { openEventStream } from './event-stream.js';
import { CommitFeed, type CommitNotice } from './commit-feed.js';
import { TOKEN_COOKIE } from './guard.js';

/** dist/web, next to dist/src (this file runs from dist/src/ops/). */
export const WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');

export const dashboardRoutes =
  (ctx: AdminContext, streams: Set<ServerResponse>): FastifyPluginAsync =>
  async (app) => {
    const { daemon } = ctx;
    const built = fs.existsSync(path.join(WEB_ROOT, 'index.html'));
    await app.register(fastifyStatic, { root: WEB_ROOT, serve: false });

    const feed = new CommitFeed();
    feed.attach(daemon.pipeline.committer);
    app.addHook('onClose', async () => feed.close());

    const notBuilt = (reply: import('fastify').FastifyReply) =>
      reply.code(503).type('text/plain').send('the dashboard is not built: run `npm run build`\n');

    app.get<{ Querystring: { token?: string } }>('/', { config: { public: true } }, async (req, reply) => {
      const given = req.query.token;
      if (given !== undefined) {
        const token = ctx.config.adminToken;
        if (token && !tokenMatches(given, token)) return reply.code(403).type('text/plain').send('wrong admin token\n');
        if (token) {
          reply.setCookie(TOKEN_COOKIE, given, { httpOnly: true, sameSite: 'strict', path: '/', secure: req.protocol === 'https' });
        }
        // The token leaves the address bar (and the history) at once.
        const rest = new URLSearchParams(req.url.split('?')[1] ?? '');
        rest.delete('token');
        const qs = rest.toString();
        return reply.redirect(qs ? `/?${qs}` : '/', 303);
      }
      if (!built) return notBuilt(reply);
      return reply.header('cache-control', 'no-cache').sendFile('index.html');
    });

    // Browsers ask for it on any page, the plain-text refusals included.
    app.get('/favicon.ico', { config: { public: true } }, async (_req, reply) => reply.code(204).send());

    app.get<{ Params: { '*': string } }>('/assets/*', { config: { public: true } }, async (req, reply) => {
      if (!built) return notBuilt(reply);
      const file = req.params['*'];
      if (!/^[\w.-]+$/.test(file)) return reply.code(404).send({ error: 'not-found', message: 'no such asset' });
      return reply.header('cache-control', 'no-cache').sendFile(path.join('assets', file));
    });

    app.get('/dashboard/events', async (req, reply) => {
      let off = () => {};
      let offRescan = () => {};
      const stream = openEventStream(reply, streams, 25_000, () => {
        off();
        offRescan();
      });
      if (!stream) return reply;
      stream.send('hello', feed.snapshot());
      off = feed.subscribe((n: CommitNotice) => stream.send('commit', n));
      offRescan = daemon.events.listen({ rescanned: () => stream.send('rescan', { at: Date.now() }) });
    });
  };
