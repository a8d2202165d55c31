/**
 * A `GET /health` prober in its own process, so its timers do not share an
 * event loop with the daemon: one request at a time every `interval` ms over
 * a keep-alive socket, for `seconds`; prints `{"samples": [[t_ms, latency_ms], ...]}`.
 *
 *   node dist/bench/health-prober.js <port> <seconds> [interval-ms]
 */
import http from 'node:http';

const [port, seconds, interval] = [Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4] ?? 20)];
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const samples: [number, number][] = [];
const end = Date.now() + seconds * 1000;

const once = () =>
  new Promise<number>((resolve, reject) => {
    const t0 = performance.now();
    http
      .get({ host: '127.0.0.1', port, path: '/health', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(performance.now() - t0));
      })
      .on('error', reject);
  });

while (Date.now() < end) {
  const t = Date.now();
  samples.push([t, Math.round((await once()) * 10) / 10]);
  const wait = interval - (Date.now() - t);
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}
agent.destroy();
process.stdout.write(JSON.stringify({ samples }) + '\n');
