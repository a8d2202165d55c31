/**
 * What the admin API and its client (the CLI) share: header names and the
 * loopback rule. Apart from admin.ts so that a read through the daemon loads
 * no server: importing admin.ts pulls in fastify and prom-client, ~0.2 s of
 * module loading for each `report` run.
 */

/** Who asked, for the audit log. */
export const ACTOR_HEADER = 'x-session-pipeline-actor';

/** A report's notice ("the usage processor has not run"), printed to stderr by the CLI. */
export const NOTICE_HEADER = 'x-session-pipeline-notice';

export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\.\d+\.\d+\.\d+$/.test(h);
}
