/**
 * The admin API's server-sent event streams (`/trace/<file>?follow=1`, `/dashboard/events`):
 * one way to open them, with one cap on how many are open at once.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/**
 * Streams open at once, all routes together. Each holds a socket and a listener on the daemon's
 * emitters; past this a client gets 503, so a loop opening streams cannot grow them without
 * bound (Node warned from the 11th listener).
 */
export const MAX_EVENT_STREAMS = 64;

export interface EventStream {
  send(event: string, data: unknown): void;
}

/**
 * Take over `reply` as an event stream registered in `streams`: 503 with `retry-after` past
 * MAX_EVENT_STREAMS (then null), else the headers, a reconnect delay, a comment every `pingMs`
 * (so proxies do not close an idle stream; it runs no query) and `onClose` when it ends.
 */
export function openEventStream(reply: FastifyReply, streams: Set<ServerResponse>, pingMs: number, onClose: () => void): EventStream | null {
  if (streams.size >= MAX_EVENT_STREAMS) {
    void reply
      .code(503)
      .header('retry-after', '5')
      .send({ error: 'busy', message: `${MAX_EVENT_STREAMS} event streams are open (the limit); close one or retry later` });
    return null;
  }
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  const ping = setInterval(() => res.write(': ping\n\n'), pingMs);
  streams.add(res);
  res.on('close', () => {
    clearInterval(ping);
    streams.delete(res);
    onClose();
  });
  return { send: (event, data) => void res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`) };
}
