/**
 * The CLI's client for a running daemon's admin API, with errors an operator
 * can act on: not running, unreachable, token missing or wrong.
 */
import http from 'node:http';
import os from 'node:os';
import { ACTOR_HEADER } from './wire.js';

export class AdminUnavailableError extends Error {}
export class AdminAuthError extends Error {}
export class AdminHttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  host: string;
  port: number;
  token?: string;
  timeoutMs?: number;
}

/** Where to connect for a bind address: a wildcard bind is reached on loopback. */
export function connectHost(bindHost: string): string {
  const h = bindHost.trim();
  if (h === '0.0.0.0' || h === '') return '127.0.0.1';
  if (h === '::' || h === '[::]') return '::1';
  return h;
}

export function actor(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    user = process.env.USER ?? 'unknown';
  }
  return `${user}@${os.hostname()} (cli)`;
}

export class AdminClient {
  readonly host: string;
  readonly base: string;

  constructor(private readonly opts: ClientOptions) {
    this.host = connectHost(opts.host);
    this.base = `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${opts.port}`;
  }

  private headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = { [ACTOR_HEADER]: actor(), accept: 'application/json' };
    if (json) h['content-type'] = 'application/json';
    if (this.opts.token) h.authorization = `Bearer ${this.opts.token}`;
    return h;
  }

  private request(
    method: 'GET' | 'POST',
    path: string,
    body: string | undefined,
    accept: string,
    timeoutMs: number | null,
    signal?: AbortSignal,
  ): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const headers = this.headers(body !== undefined);
      headers.accept = accept;
      if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
      const req = http.request({ host: this.host, port: this.opts.port, path, method, headers, signal }, resolve);
      if (timeoutMs !== null) {
        req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      }
      req.on('error', reject);
      req.end(body);
    });
  }

  private unreachable(err: unknown): Error {
    const e = err as NodeJS.ErrnoException & { errors?: NodeJS.ErrnoException[] };
    const code = e?.code ?? e?.errors?.[0]?.code;
    const where = `${this.host}:${this.opts.port}`;
    if (code === 'ECONNREFUSED') {
      return new AdminUnavailableError(`daemon not running on ${where} (start it with \`session-pipeline watch\`)`);
    }
    if (code === 'ETIMEDOUT') return new AdminUnavailableError(`the daemon on ${where} did not answer in time`);
    return new AdminUnavailableError(`cannot reach the daemon's admin API on ${where}: ${code ?? e?.message ?? String(err)}`);
  }

  private authError(status: number): AdminAuthError {
    return status === 401
      ? new AdminAuthError('the daemon requires an admin token: set SESSION_PIPELINE_ADMIN_TOKEN or pass --admin-token')
      : new AdminAuthError('the daemon refused the admin token: check SESSION_PIPELINE_ADMIN_TOKEN / --admin-token');
  }

  /** One call; `okStatuses` other than 2xx that the caller handles itself (e.g. 503 from /health). */
  async call<T>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    okStatuses: number[] = [],
  ): Promise<{ status: number; body: T; headers: http.IncomingHttpHeaders }> {
    let status: number;
    let text: string;
    let headers: http.IncomingHttpHeaders;
    try {
      const res = await this.request(method, path, method === 'POST' ? JSON.stringify(body ?? {}) : undefined, 'application/json', this.opts.timeoutMs ?? 70_000);
      status = res.statusCode ?? 0;
      headers = res.headers;
      res.setEncoding('utf8');
      text = '';
      for await (const chunk of res) text += chunk;
    } catch (err) {
      throw this.unreachable(err);
    }
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON (metrics)
    }
    if (status === 401 || status === 403) throw this.authError(status);
    if ((status < 200 || status >= 300) && !okStatuses.includes(status)) {
      const msg = (parsed as { message?: string })?.message ?? text.slice(0, 300);
      throw new AdminHttpError(`${method} ${path}: HTTP ${status}: ${msg}`, status, parsed);
    }
    return { status, body: parsed as T, headers };
  }

  /**
   * Read a newline-delimited JSON stream, one parsed value per line. The next chunk is read
   * only once `onLine` settles, so a slow consumer slows the daemon's sender instead of
   * filling memory.
   */
  async lines(path: string, onLine: (value: unknown) => void | Promise<void>): Promise<void> {
    let res: http.IncomingMessage;
    try {
      res = await this.request('GET', path, undefined, 'application/x-ndjson', this.opts.timeoutMs ?? 70_000);
    } catch (err) {
      throw this.unreachable(err);
    }
    const status = res.statusCode ?? 0;
    res.setEncoding('utf8');
    if (status === 401 || status === 403) throw this.authError(status);
    let buf = '';
    if (status !== 200) {
      for await (const chunk of res) buf += chunk;
      let msg = buf.slice(0, 300);
      try {
        msg = (JSON.parse(buf) as { message?: string }).message ?? msg;
      } catch {
        // keep text
      }
      throw new AdminHttpError(`GET ${path}: HTTP ${status}: ${msg}`, status, buf);
    }
    try {
      for await (const chunk of res as AsyncIterable<string>) {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line) await onLine(JSON.parse(line));
        }
      }
    } catch (err) {
      if (err instanceof SyntaxError) throw err;
      if ((err as NodeJS.ErrnoException).code) throw this.unreachable(err);
      throw err;
    }
    if (buf.trim()) await onLine(JSON.parse(buf));
  }

  /** Follow a server-sent event stream until `signal` aborts or the daemon closes it. */
  async stream(path: string, onEvent: (event: string, data: unknown) => void, signal?: AbortSignal): Promise<void> {
    let res: http.IncomingMessage;
    try {
      res = await this.request('GET', path, undefined, 'text/event-stream', null, signal);
    } catch (err) {
      if (signal?.aborted) return;
      throw this.unreachable(err);
    }
    const status = res.statusCode ?? 0;
    res.setEncoding('utf8');
    if (status === 401 || status === 403) throw this.authError(status);
    if (status !== 200) {
      let text = '';
      for await (const chunk of res) text += chunk;
      let msg = text;
      try {
        msg = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        // keep text
      }
      throw new AdminHttpError(`GET ${path}: HTTP ${status}: ${msg}`, status, text);
    }
    let buf = '';
    try {
      for await (const chunk of res as AsyncIterable<string>) {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
          }
          if (data.length === 0) continue;
          let value: unknown = data.join('\n');
          try {
            value = JSON.parse(value as string);
          } catch {
            // leave as text
          }
          onEvent(event, value);
        }
      }
    } catch (err) {
      if (signal?.aborted) return;
      throw this.unreachable(err);
    }
  }
}
