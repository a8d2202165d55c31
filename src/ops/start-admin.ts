/**
 * The admin API of `session-pipeline watch`, started by the command once the
 * daemon runs (`startAdmin`), and closed before the daemon stops. Before the
 * daemon starts, `checkAdminBind` refuses a non-loopback bind without a token.
 */
import type { Daemon } from '../watch/daemon.js';
import { AuditLog } from './audit.js';
import { createAdminApp, type AdminContext } from './admin.js';
import { installPoisonFault } from './faults.js';
import { createMetrics } from './metrics.js';
import { OpsMonitor, thresholdsFrom } from './monitor.js';

export { checkAdminBind } from './admin.js';

/** The admin API could not start (port in use, audit log): the daemon was stopped again. */
export class AdminStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdminStartError';
  }
}

export async function startAdmin(daemon: Daemon): Promise<() => Promise<void>> {
  const { config, log } = daemon.opts;
  if (installPoisonFault(daemon.pipeline.processors)) {
    log.warn('SESSION_PIPELINE_TEST_FAULTS=1: test fault hooks are active (never set this in production)');
  }
  const monitor = new OpsMonitor(daemon, thresholdsFrom(config));
  const metrics = createMetrics(daemon, monitor);
  let audit: AuditLog | null = null;
  let server: Awaited<ReturnType<typeof createAdminApp>> | null = null;
  const release = async () => {
    if (server) await server.close().catch(() => undefined);
    audit?.close();
    metrics.close();
    monitor.close();
  };
  let stage = 'cannot set up the audit log';
  try {
    audit = await AuditLog.open(daemon.pipeline.db, daemon.pipeline.committer);
    const ctx: AdminContext = { daemon, monitor, metrics, audit, config, log };
    server = await createAdminApp(ctx);
    stage = `cannot listen on ${config.adminHost}:${config.adminPort}`;
    await server.app.listen({ host: config.adminHost, port: config.adminPort });
    const addr = server.app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.adminPort;
    ctx.address = { host: config.adminHost, port };
    log.info(
      { host: config.adminHost, port, url: `http://${config.adminHost.includes(':') ? `[${config.adminHost}]` : config.adminHost}:${port}`, auth: config.adminToken ? 'token' : 'none' },
      'admin API listening',
    );
  } catch (err) {
    await release();
    await daemon.stop();
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? 'the port is in use (another daemon?)' : e.message;
    throw new AdminStartError(`admin API ${stage}: ${why}`);
  }
  return release;
}
