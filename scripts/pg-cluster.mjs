#!/usr/bin/env node
/**
 * A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` into a temp
 * directory, `pg_ctl start` on a free port, trust auth on 127.0.0.1 only.
 *
 *   node scripts/pg-cluster.mjs start   prints `export SESSION_PIPELINE_TEST_PG=<url>` and the data dir
 *   node scripts/pg-cluster.mjs stop <dir>
 *
 * PostgreSQL refuses to run as root, and CI runs as root: then initdb and the
 * server run as the `postgres` user (`runuser`), in a directory it owns.
 * `.ci/run` starts one for the whole test run; vitest's global setup
 * (test/pg-global-setup.ts) starts one itself when SESSION_PIPELINE_TEST_PG is
 * not set, so a local `npm test` needs nothing started by hand.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Debian puts the server binaries outside PATH. */
export function pgBin(name) {
  const dirs = [];
  try {
    for (const v of fs.readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))) dirs.push(`/usr/lib/postgresql/${v}/bin`);
  } catch {
    // not Debian's layout: rely on PATH
  }
  for (const d of dirs) if (fs.existsSync(path.join(d, name))) return path.join(d, name);
  for (const d of (process.env.PATH ?? '').split(':')) if (d && fs.existsSync(path.join(d, name))) return path.join(d, name);
  throw new Error(
    `PostgreSQL's ${name} was not found (in /usr/lib/postgresql/*/bin or PATH): the tests run a throwaway cluster; ` +
      'install the server with `apt-get install -y postgresql` (README, Quick start), or set SESSION_PIPELINE_TEST_PG to a server URL',
  );
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Run a server binary as the user that may run it. */
function pgRun(bin, args) {
  const cmd = asRoot ? 'runuser' : bin;
  const argv = asRoot ? ['-u', 'postgres', '--', bin, ...args] : args;
  return execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

/**
 * Start a cluster. Returns `{ url, dir, port }`; `url` names the `postgres`
 * database as the `postgres` superuser (tests create their own databases).
 * `durable: true` keeps PostgreSQL's defaults for fsync, synchronous_commit and
 * full_page_writes (a benchmark of a store people rely on); tests turn them off.
 */
export async function startCluster({ durable = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-pg-'));
  fs.chmodSync(dir, 0o755);
  const data = path.join(dir, 'data');
  const sock = path.join(dir, 'sock');
  fs.mkdirSync(data);
  fs.mkdirSync(sock);
  if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  pgRun(pgBin('initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
  const port = await freePort();
  // fsync off: a throwaway cluster; crash safety of PostgreSQL itself is not what the tests are about.
  const opts = [
    `-p ${port}`,
    `-k ${sock}`,
    "-c listen_addresses='127.0.0.1'",
    ...(durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
    '-c max_connections=300',
    '-c shared_buffers=128MB',
  ].join(' ');
  pgRun(pgBin('pg_ctl'), ['-D', data, '-l', path.join(dir, 'server.log'), '-o', opts, '-w', '-t', '60', 'start']);
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, dir, port };
}

export function stopCluster(dir, mode = 'fast') {
  try {
    pgRun(pgBin('pg_ctl'), ['-D', path.join(dir, 'data'), '-m', mode, '-w', 'stop']);
  } catch {
    // already stopped
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Stop the server but keep its data (a test that takes PostgreSQL away for a while). */
export function pauseCluster(dir) {
  pgRun(pgBin('pg_ctl'), ['-D', path.join(dir, 'data'), '-m', 'immediate', '-w', 'stop']);
}

/** Start a paused cluster again on its port. */
export function resumeCluster(dir, port) {
  const sock = path.join(dir, 'sock');
  const opts = `-p ${port} -k ${sock} -c listen_addresses='127.0.0.1' -c fsync=off -c synchronous_commit=off -c max_connections=300`;
  pgRun(pgBin('pg_ctl'), ['-D', path.join(dir, 'data'), '-l', path.join(dir, 'server.log'), '-o', opts, '-w', '-t', '60', 'start']);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [cmd, arg] = process.argv.slice(2);
  if (cmd === 'start') {
    const c = await startCluster();
    process.stdout.write(`export SESSION_PIPELINE_TEST_PG=${c.url}\nexport SESSION_PIPELINE_TEST_PG_DIR=${c.dir}\n`);
  } else if (cmd === 'stop' && arg) {
    stopCluster(arg);
  } else {
    process.stderr.write('usage: pg-cluster.mjs start | stop <dir>\n');
    process.exit(2);
  }
}
