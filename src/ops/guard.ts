/**
 * The admin API's gate: every request to the admin server passes it before
 * any route sees it, in this order:
 *
 *   1. Host     only the bound address and the localhost names, with the
 *               listening port (`localhost:7370`, `127.0.0.1:7370`,
 *               `[::1]:7370`), else **421**. A DNS-rebinding page reaches the
 *               daemon with `Host: attacker.example`: it is refused here.
 *   2. Origin   absent, or one of the same names as `http://<host>:<port>`,
 *               else **403** (a cross-site form or fetch; `Origin: null`
 *               included). `Sec-Fetch-Site: cross-site` is refused too.
 *   3. JSON     every POST (and any other mutating method) must say
 *               `Content-Type: application/json`, else **415**: a browser
 *               sends a cross-site `text/plain` or form POST without a CORS
 *               preflight, never a JSON one.
 *   4. Token    when one is set, every route not marked `config.public`
 *               needs `Authorization: Bearer <token>` (or, from a browser,
 *               the dashboard's HttpOnly cookie): **401** without,
 *               **403** when wrong. A remote that fails it `maxFailures`
 *               times in `windowMs` gets **429** on every non-public route
 *               until its window ends (the correct token included: that is
 *               what stops guessing).
 *
 * A refused request writes nothing: no audit row, no log line per request
 * (one warning when a remote gets rate-limited), only the
 * `onRefused(reason)` count. `req.guardPassed` is true for what got through;
 * the audit hook writes rows for those only.
 *
 * How to use it: `installAdminGuard(app, options)` on the root fastify
 * instance, before any route is registered. Hooks on the root apply to every
 * route and plugin registered on that instance afterwards (the report and
 * SQL endpoints, the dashboard), and to its 404 handler, so a new route gets
 * the gate without doing anything. A route readable without the token says
 * `{ config: { public: true } }` (GET only: mutations always need it).
 */
import os from 'node:os';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Readable without the token (probes, scrapers). GET/HEAD only. */
    public?: boolean;
  }
  interface FastifyRequest {
    /** 'token': the right token; 'none': no token configured; 'missing' / 'wrong'. */
    authState?: 'token' | 'none' | 'missing' | 'wrong';
    /** The request passed the gate (Host, Origin, content type, token or a public route). */
    guardPassed?: boolean;
  }
}

export type RefusalReason = 'host' | 'origin' | 'content-type' | 'unauthorized' | 'forbidden' | 'rate-limited';

export interface GuardOptions {
  /** The configured bind address (`127.0.0.1`, `0.0.0.0`, `::`, a LAN address). */
  bindHost: string;
  /** The listening port; read per request because port 0 is known only once listening. */
  port: () => number | undefined;
  /** The admin token, '' for none. */
  token: string;
  tokenMatches: (given: string) => boolean;
  limiter?: FailureLimiter;
  onRefused?: (reason: RefusalReason, req: FastifyRequest) => void;
  /** Addresses of this machine, for a wildcard bind (default: os.networkInterfaces()). */
  interfaceAddresses?: () => string[];
}

export const isMutating = (method: string) => method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';

const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]', '::0']);

/** `::1` -> `[::1]`: how an address appears in a Host header or an origin. */
function hostForm(address: string): string {
  const a = address.trim().toLowerCase();
  if (a.startsWith('[')) return a;
  return a.includes(':') ? `[${a}]` : a;
}

/**
 * The host names (without port) a request may name: the localhost names, the
 * bound address, and for a wildcard bind every address of this machine
 * (a client off the machine reaches it by one of them).
 */
export function allowedHostNames(bindHost: string, interfaceAddresses: () => string[] = localAddresses): Set<string> {
  const names = new Set(['localhost', '127.0.0.1', '[::1]']);
  if (WILDCARDS.has(bindHost.trim())) {
    for (const a of interfaceAddresses()) names.add(hostForm(a));
  } else {
    names.add(hostForm(bindHost));
  }
  return names;
}

function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) out.push(i.address);
  return out;
}

/** `Host` header -> true when it names one of `names` with `port` (no port given means 80). */
export function hostAllowed(host: string | undefined, names: Set<string>, port: number | undefined): boolean {
  if (!host || port === undefined) return false;
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d+))?$/i.exec(host.trim());
  if (!m) return false;
  const given = m[2] === undefined ? 80 : Number(m[2]);
  return given === port && names.has(m[1].toLowerCase());
}

/** `Origin` header -> true when absent or `http://<allowed name>:<port>`. */
export function originAllowed(origin: string | undefined, names: Set<string>, port: number | undefined): boolean {
  if (origin === undefined) return true;
  const m = /^http:\/\/(.+)$/i.exec(origin.trim());
  return m !== null && hostAllowed(m[1], names, port);
}

/** `application/json`, with parameters (`; charset=utf-8`) allowed. */
export function isJson(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0].trim().toLowerCase() === 'application/json';
}

/**
 * Failed token checks per remote address, in a fixed window. Bounded: past
 * `maxRemotes` addresses the oldest entry is dropped, so a spray of source
 * addresses costs memory once, not forever.
 */
export class FailureLimiter {
  private readonly remotes = new Map<string, { windowStart: number; failures: number }>();

  constructor(
    readonly maxFailures = 20,
    readonly windowMs = 60_000,
    private readonly maxRemotes = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Ms until `remote` may try again, 0 when it may now. */
  blockedFor(remote: string): number {
    const r = this.remotes.get(remote);
    if (!r) return 0;
    const left = r.windowStart + this.windowMs - this.now();
    if (left <= 0) {
      this.remotes.delete(remote);
      return 0;
    }
    return r.failures >= this.maxFailures ? left : 0;
  }

  /** Count a failure; true when this one reached the limit (log it once). */
  fail(remote: string): boolean {
    const t = this.now();
    let r = this.remotes.get(remote);
    if (!r || t - r.windowStart >= this.windowMs) {
      this.remotes.delete(remote);
      r = { windowStart: t, failures: 0 };
      if (this.remotes.size >= this.maxRemotes) this.remotes.delete(this.remotes.keys().next().value!);
      this.remotes.set(remote, r);
    }
    r.failures++;
    return r.failures === this.maxFailures;
  }

  get size(): number {
    return this.remotes.size;
  }
}

/** The cookie that carries the token for a browser, set from the dashboard's `/?token=` (dashboard.ts). */
export const TOKEN_COOKIE = 'session_pipeline_token';

function presentedToken(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (typeof h === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(h.trim());
    if (m) return m[1].trim();
  }
  // HttpOnly and SameSite=Strict, so no other site's page sends it; Origin and Host are checked above.
  const c = (req as FastifyRequest & { cookies?: Record<string, string | undefined> }).cookies?.[TOKEN_COOKIE];
  return typeof c === 'string' && c !== '' ? c : null;
}

/** Install the gate's hook on `app` (the root instance, before routes). */
export function installAdminGuard(app: FastifyInstance, opts: GuardOptions): void {
  const names = allowedHostNames(opts.bindHost, opts.interfaceAddresses);
  const refuse = (req: FastifyRequest, reply: FastifyReply, reason: RefusalReason, status: number, message: string) => {
    opts.onRefused?.(reason, req);
    if (status === 401) reply.header('www-authenticate', 'Bearer realm="session-pipeline admin"');
    return reply.code(status).header('connection', 'close').send({ error: reason, message });
  };

  app.addHook('onRequest', async (req, reply) => {
    const port = opts.port();
    if (!hostAllowed(req.headers.host, names, port)) {
      return refuse(req, reply, 'host', 421, `the admin API answers only to ${[...names].slice(0, 3).join(', ')} (and its bound address) with port ${port}`);
    }
    const origin = req.headers.origin;
    if (!originAllowed(origin, names, port) || req.headers['sec-fetch-site'] === 'cross-site') {
      return refuse(req, reply, 'origin', 403, 'cross-origin requests are refused');
    }
    const mutating = isMutating(req.method);
    if (mutating && !isJson(req.headers['content-type'])) {
      return refuse(req, reply, 'content-type', 415, `${req.method} needs content-type: application/json`);
    }

    const publicRoute = !mutating && req.routeOptions.config?.public === true;
    if (!opts.token) {
      req.authState = 'none';
      req.guardPassed = true;
      return;
    }
    const given = presentedToken(req);
    if (publicRoute) {
      req.authState = given !== null && opts.tokenMatches(given) ? 'token' : given === null ? 'missing' : 'wrong';
      req.guardPassed = true;
      return;
    }
    const remote = req.ip ?? 'unknown';
    const wait = opts.limiter?.blockedFor(remote) ?? 0;
    if (wait > 0) {
      reply.header('retry-after', String(Math.ceil(wait / 1000)));
      return refuse(req, reply, 'rate-limited', 429, `too many failed token checks from ${remote}; try again in ${Math.ceil(wait / 1000)} s`);
    }
    req.authState = given === null ? 'missing' : opts.tokenMatches(given) ? 'token' : 'wrong';
    if (req.authState === 'token') {
      req.guardPassed = true;
      return;
    }
    if (opts.limiter?.fail(remote)) {
      req.log.warn({ remote, failures: opts.limiter.maxFailures, windowMs: opts.limiter.windowMs }, 'admin API: too many failed token checks; rate-limiting this remote');
    }
    return req.authState === 'missing'
      ? refuse(req, reply, 'unauthorized', 401, 'this endpoint needs the admin token (Authorization: Bearer <token>)')
      : refuse(req, reply, 'forbidden', 403, 'wrong admin token');
  });
}
