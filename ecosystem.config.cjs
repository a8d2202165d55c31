// pm2: `npx pm2 start ecosystem.config.cjs` (after `npm ci && npm run build`).
// The daemon drains for at most SESSION_PIPELINE_DRAIN_TIMEOUT_MS (1.2 s) on SIGINT,
// so kill_timeout leaves it room to commit and checkpoint DuckDB before SIGKILL.
// Exit 2 (a bad setting) and 3 (the database is locked by another process) are not
// fixed by a restart: without stop_exit_codes pm2 restarted 5-6 times in a few seconds.
module.exports = {
  apps: [
    {
      name: 'session-pipeline',
      script: 'dist/src/cli/main.js',
      args: 'watch',
      cwd: __dirname,
      exec_mode: 'fork',
      instances: 1,
      autorestart: true,
      stop_exit_codes: [2, 3],
      wait_ready: true,
      listen_timeout: 30000,
      kill_timeout: 5000,
      shutdown_with_message: false,
      max_memory_restart: '1G',
      exp_backoff_restart_delay: 200,
      merge_logs: true,
      env: {
        NODE_ENV: 'production',
        // DuckDB and fs reads share libuv's pool; 4 threads starve under a backfill plus rescans.
        UV_THREADPOOL_SIZE: '8',
        // glibc gives each thread that contends for malloc an arena of its own (up to 8 a core) and
        // keeps in each what DuckDB's merges freed. Two arenas, bench:live-cost at 20,200 files with
        // these 8 pool threads: peak RSS 305, 316 MB against 349, 322 (2026-12-03). glibc reads it at start only.
        MALLOC_ARENA_MAX: '2',
        SESSION_PIPELINE_DRAIN_TIMEOUT_MS: '1200',
        // Ordinary lines to the out log, warnings and errors to the error log (all went to the error log).
        SESSION_PIPELINE_LOG_DEST: 'split',
      },
    },
  ],
};
