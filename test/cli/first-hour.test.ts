/**
 * A newcomer's first hour (issue 12, section 1), as real processes: `npm start` under a
 * supervisor's signals, pm2 on errors a restart cannot fix, the default database location,
 * a bad root, exit codes and messages, `trace` on real keys, and the install's engines.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import semver from 'semver';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { line, REPO, runCli, sandbox, spawnCli, waitFor, type Sandbox } from '../helpers.js';

let sb: Sandbox;
const children: ChildProcess[] = [];
beforeEach(() => {
  sb = sandbox('sp-first-');
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  sb.cleanup();
});

/** The child's env without the developer's own pipeline settings. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('SESSION_PIPELINE_') && k !== 'SESSION_ROOT' && k !== 'XDG_DATA_HOME') env[k] = v;
  }
  return { ...env, ...extra };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

interface LogRecord {
  msg?: string;
  pid?: number;
  port?: number;
  level?: number;
}
const records = (text: string): LogRecord[] =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogRecord);

async function adminPort(child: ChildProcess, err: () => string): Promise<number> {
  return waitFor(() => {
    if (child.exitCode !== null) throw new Error(`daemon exited ${child.exitCode}:\n${err()}`);
    return records(err()).find((r) => r.msg === 'admin API listening')?.port ?? null;
  }, 20_000);
}

function get(port: number, urlPath: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      })
      .on('error', reject);
  });
}

describe('npm start under a supervisor', () => {
  // What systemd and Docker do: signal the pid they started, which is npm's.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} to the npm pid stops the daemon, which releases the database`, async () => {
      // --ignore-scripts skips the prestart build (the suite's pretest has built already).
      const npm = spawn('npm', ['start', '--ignore-scripts', '--silent'], {
        cwd: REPO,
        env: cleanEnv({ SESSION_ROOT: sb.root, SESSION_PIPELINE_DB: sb.db, SESSION_PIPELINE_ADMIN_PORT: '0' }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(npm);
      let err = '';
      npm.stderr!.on('data', (d) => (err += d));
      // EOF once npm and the daemon (which writes to the same pipe) have both closed it: the
      // daemon's last lines may still be in the pipe when its pid is already gone.
      const errEnded = new Promise<void>((res) => npm.stderr!.on('end', () => res()));
      npm.stdout!.resume();
      const daemonPid = await waitFor(() => records(err).find((r) => r.msg === 'watching')?.pid ?? null, 60_000);
      expect(daemonPid).not.toBe(npm.pid);
      const npmExited = new Promise<number | null>((res) => npm.on('exit', (code) => res(code)));
      npm.kill(signal);
      await npmExited;
      await waitFor(() => !alive(daemonPid), 10_000).catch(() => {
        process.kill(daemonPid, 'SIGKILL');
        throw new Error(`the daemon (pid ${daemonPid}) outlived npm after ${signal}`);
      });
      await Promise.race([errEnded, new Promise((r) => setTimeout(r, 10_000))]);
      // On failure, the daemon's last log lines say why (once seen under a loaded full suite).
      expect(records(err).some((r) => r.msg === 'stopped' && r.pid === daemonPid), err.slice(-3000)).toBe(true);
      // The lock is released: a run on the same database goes through.
      const after = await runCli(['run', '--once', '--json', '--root', sb.root, '--db', sb.db], cleanEnv());
      expect(after.code).toBe(0);
    }, 120_000);
  }
});

describe('pm2', () => {
  const pm2 = path.join(REPO, 'node_modules', '.bin', 'pm2');
  function pm(env: Record<string, string>, ...args: string[]): string {
    return execFileSync(pm2, args, { cwd: REPO, env, encoding: 'utf8', timeout: 60_000 });
  }
  type Proc = { name: string; pid: number; pm2_env: { status: string; restart_time: number; exit_code?: number; pm_out_log_path: string; pm_err_log_path: string } };
  const app = (env: Record<string, string>) =>
    (JSON.parse(pm(env, 'jlist')) as Proc[]).find((p) => p.name === 'session-pipeline');

  it('stops instead of restart-looping on a bad setting (exit 2) and on a locked database (exit 3)', async () => {
    const base = cleanEnv({ PM2_HOME: path.join(sb.dir, 'pm2'), SESSION_ROOT: sb.root, SESSION_PIPELINE_DB: sb.db, SESSION_PIPELINE_ADMIN_PORT: '0' });
    try {
      // pm2 shows such an app as "waiting restart" (exp_backoff_restart_delay sets that status before
      // it looks at stop_exit_codes) but does not restart it: its restart count is what tells.
      const exitedWith = async (env: Record<string, string>, code: number) => {
        const p = await waitFor(() => {
          const a = app(env);
          return a && a.pm2_env.exit_code === code ? a : null;
        }, 30_000);
        // A few seconds more: a restart loop would have restarted 5-6 times by now.
        await new Promise((r) => setTimeout(r, 3000));
        const later = app(env)!;
        expect(later.pm2_env.restart_time).toBe(0);
        expect(later.pid).toBe(0);
        return fs.readFileSync(p.pm2_env.pm_err_log_path, 'utf8');
      };
      const bad = { ...base, SESSION_PIPELINE_MAX_ATTEMPTS: 'many' };
      pm(bad, 'start', 'ecosystem.config.cjs', '--update-env');
      expect(await exitedWith(bad, 2)).toMatch(/invalid maxAttempts/);
      pm(bad, 'delete', 'session-pipeline');

      // Exit 3: another process holds the database.
      const holder = spawnCli(['watch', '--root', sb.root, '--db', sb.db, '--admin-port', '0', '--processors', 'lines'], cleanEnv());
      children.push(holder);
      let herr = '';
      holder.stderr!.on('data', (d) => (herr += d));
      await waitFor(() => herr.includes('"watching"'), 20_000);
      pm(base, 'start', 'ecosystem.config.cjs', '--update-env');
      expect(await exitedWith(base, 3)).toMatch(/locked by another process/);
    } finally {
      try {
        pm(base, 'kill');
      } catch {
        // already gone
      }
    }
  }, 120_000);

  it('puts ordinary log lines in the out log and only warnings and errors in the error log', async () => {
    const env = cleanEnv({
      PM2_HOME: path.join(sb.dir, 'pm2'),
      SESSION_ROOT: sb.root,
      SESSION_PIPELINE_DB: sb.db,
      SESSION_PIPELINE_ADMIN_PORT: '0',
      SESSION_PIPELINE_PROCESSORS: 'lines',
    });
    sb.write('a/s.jsonl', line({ type: 'user', n: 1 }) + '{broken\n');
    try {
      pm(env, 'start', 'ecosystem.config.cjs', '--update-env');
      const p = app(env)!;
      const out = () => records(fs.readFileSync(p.pm2_env.pm_out_log_path, 'utf8'));
      const errLog = () => records(fs.readFileSync(p.pm2_env.pm_err_log_path, 'utf8'));
      await waitFor(() => out().some((r) => r.msg === 'committed') && errLog().some((r) => r.msg === 'bad line skipped'), 20_000);
      expect(out().some((r) => r.msg === 'watching')).toBe(true);
      expect(out().every((r) => (r.level ?? 0) < 40)).toBe(true);
      expect(errLog().length).toBeGreaterThan(0);
      expect(errLog().every((r) => (r.level ?? 0) >= 40)).toBe(true);
    } finally {
      try {
        pm(env, 'kill');
      } catch {
        // already gone
      }
    }
  }, 90_000);
});

describe('the default database', () => {
  it('is in the XDG data directory, whatever the working directory', async () => {
    sb.write('a/s.jsonl', line({ type: 'user', n: 1 }));
    const home = path.join(sb.dir, 'home');
    fs.mkdirSync(home);
    const run = (cwd: string, extra: Record<string, string>, ...args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, [path.join(REPO, 'dist', 'src', 'cli', 'main.js'), ...args], {
          cwd,
          env: cleanEnv({ HOME: home, ...extra }),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        c.stdout.on('data', (d) => (stdout += d));
        c.stderr.on('data', (d) => (stderr += d));
        c.on('exit', (code) => resolve({ code, stdout, stderr }));
      });
    const elsewhere = path.join(sb.dir, 'elsewhere');
    fs.mkdirSync(elsewhere);
    const r = await run(sb.dir, {}, 'run', '--once', '--json', '--root', sb.root, '--processors', 'lines');
    expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(path.join(home, '.local', 'share', 'session-pipeline', 'session-pipeline.duckdb'))).toBe(true);
    expect(fs.existsSync(path.join(sb.dir, 'data'))).toBe(false);
    // A second run from another directory finds the same database: nothing new to read.
    const again = await run(elsewhere, {}, 'run', '--once', '--json', '--root', sb.root, '--processors', 'lines');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).processors.lines).toMatchObject({ scanned: 1, unchanged: 1, appended: 0 });

    const xdg = path.join(sb.dir, 'xdg');
    const r3 = await run(elsewhere, { XDG_DATA_HOME: xdg }, 'run', '--once', '--json', '--root', sb.root, '--processors', 'lines');
    expect(r3.code, r3.stderr).toBe(0);
    expect(fs.existsSync(path.join(xdg, 'session-pipeline', 'session-pipeline.duckdb'))).toBe(true);
  }, 60_000);
});

describe('a bad root', () => {
  it('run --once: a missing root or a regular file is one line and exit 2', async () => {
    const missing = await runCli(['run', '--once', '--root', path.join(sb.dir, 'nope'), '--db', sb.db], cleanEnv());
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toEqual([`session-pipeline: session root ${path.join(sb.dir, 'nope')} does not exist (--root / SESSION_ROOT)`]);
    expect(missing.stdout).toBe('');
    const file = path.join(sb.dir, 'file-root');
    fs.writeFileSync(file, 'not a directory\n');
    for (const cmd of [['run', '--once'], ['watch', '--admin-port', '0']]) {
      const r = await runCli([...cmd, '--root', file, '--db', sb.db], cleanEnv());
      expect(r.code, cmd.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/session root .* is not a directory \(--root \/ SESSION_ROOT\)/);
    }
  }, 60_000);

  it('watch waits for a missing root, and /health says so until it appears', async () => {
    const root = path.join(sb.dir, 'later');
    const d = spawnCli(['watch', '--root', root, '--db', sb.db, '--admin-port', '0', '--processors', 'lines', '--rescan-interval-ms', '300'], cleanEnv());
    children.push(d);
    let err = '';
    d.stderr!.on('data', (b) => (err += b));
    const port = await adminPort(d, () => err);
    const h = await waitFor(async () => {
      const r = await get(port, '/health');
      return r.body.rescan?.root === 'missing' ? r : null;
    });
    expect(h.body.status).toBe('warning');
    expect(h.body.reasons.join('\n')).toContain(`session root ${root} does not exist`);
    fs.mkdirSync(path.join(root, 'a'), { recursive: true });
    fs.writeFileSync(path.join(root, 'a', 's.jsonl'), line({ n: 1 }));
    const ok = await waitFor(async () => {
      const r = await get(port, '/health');
      return r.body.rescan?.root === 'dir' ? r : null;
    });
    expect(ok.body.reasons.join('\n')).not.toContain('does not exist');
  }, 60_000);
});

describe('exit codes and messages', () => {
  it('unknown commands and flags, and a bad --by, exit 2', async () => {
    const cases = [['bogus'], ['run', '--once', '--bogus'], ['report', 'usage', '--by', 'nope', '--db', sb.db], ['report', 'events', '--by', 'day', '--db', sb.db], ['trace']];
    for (const args of cases) {
      const r = await runCli(args, cleanEnv());
      expect(r.code, args.join(' ')).toBe(2);
    }
    const help = await runCli(['run', '--help'], cleanEnv());
    expect(help.code).toBe(0);
    const version = await runCli(['--version'], cleanEnv());
    expect(version.code).toBe(0);
  }, 60_000);

  it('an empty numeric setting is not 0, and messages are the tool own words', async () => {
    const runWith = (args: string[], env: Record<string, string> = {}) => runCli(['run', '--once', '--root', sb.root, '--db', sb.db, ...args], cleanEnv(env));
    const empty = await runWith(['--max-line-bytes', '']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('invalid maxLineBytes (--max-line-bytes / SESSION_PIPELINE_MAX_LINE_BYTES): "": is empty');
    // 0 is a valid port ("any free port"), so '' must not become it.
    const port = await runCli(['watch', '--root', sb.root, '--db', sb.db, '--admin-port', ' '], cleanEnv());
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/invalid adminPort .*: " ": is empty/);
    const word = await runWith([], { SESSION_PIPELINE_MAX_ATTEMPTS: 'abc' });
    expect(word.code).toBe(2);
    expect(word.stderr.trim()).toBe(
      'session-pipeline: invalid maxAttempts (--max-attempts / SESSION_PIPELINE_MAX_ATTEMPTS): "abc": must be a whole number from 1 to 1000',
    );
    const level = await runWith(['--log-level', 'loud']);
    expect(level.code).toBe(2);
    expect(level.stderr).toContain('must be one of trace, debug, info, warn, error, fatal, silent');
    for (const r of [empty, port, word, level]) expect(r.stderr).not.toMatch(/expected|received|NaN|Invalid input/);
    const timeout = await runCli(['rescan', '--timeout-ms', ''], cleanEnv());
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toContain('invalid --timeout-ms ""');
  }, 60_000);
});

describe('trace on real keys', () => {
  it('takes keys beginning with -, paths relative to the working directory, and fails on a missing file', async () => {
    const key = '-home-me-src-app/0b1c.jsonl';
    sb.write(key, line({ type: 'user', n: 1 }));
    const d = spawnCli(['watch', '--root', sb.root, '--db', sb.db, '--admin-port', '0', '--processors', 'lines'], cleanEnv());
    children.push(d);
    let err = '';
    d.stderr!.on('data', (b) => (err += b));
    const port = await adminPort(d, () => err);
    const env = cleanEnv({ SESSION_PIPELINE_ADMIN_PORT: String(port) });
    await waitFor(async () => (await get(port, `/trace/${key}`)).body.checkpoints[0].status === 'ok');

    const asKey = await runCli(['trace', key, '--json'], env);
    expect(asKey.code, asKey.stderr).toBe(0);
    expect(JSON.parse(asKey.stdout)).toMatchObject({ sessionFile: key, checkpoints: [{ processor: 'lines', status: 'ok', linesProcessed: 1 }] });
    const afterDashes = await runCli(['trace', '--json', '--', key], env);
    expect(afterDashes.code, afterDashes.stderr).toBe(0);

    // From inside the owner's directory, by its file name.
    const inDir = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [path.join(REPO, 'dist', 'src', 'cli', 'main.js'), 'trace', '0b1c.jsonl', '--json'], {
        cwd: sb.file('-home-me-src-app'),
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (b) => (stdout += b));
      c.stderr.on('data', (b) => (stderr += b));
      c.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
    expect(inDir.code, inDir.stderr).toBe(0);
    expect(JSON.parse(inDir.stdout).sessionFile).toBe(key);

    const missing = await runCli(['trace', '-home-me-src-app/nope.jsonl'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('-home-me-src-app/nope.jsonl: no such session file under the root');
  }, 60_000);
});

describe('install', () => {
  it('every locked package accepts this Node (npm ci warns EBADENGINE otherwise)', () => {
    const lock = JSON.parse(fs.readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
    };
    const refused: string[] = [];
    for (const [where, p] of Object.entries(lock.packages)) {
      const node = !Array.isArray(p.engines) ? p.engines?.node : undefined;
      if (where && node && !semver.satisfies(process.version, node)) refused.push(`${where}@${p.version} wants node ${node}`);
    }
    expect(refused).toEqual([]);
  });
});
