/**
 * Fake secrets of each kind, built at run time from a seeded generator so no
 * real-looking credential is committed to the repository.
 */
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const B64 = ALNUM + '+/';
const URLSAFE = ALNUM + '-_';
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export function rng(seed = 42): (charset: string, n: number) => string {
  let s = seed >>> 0;
  const next = () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (charset, n) => {
    let out = '';
    for (let i = 0; i < n; i++) out += charset[Math.floor(next() * charset.length)];
    return out;
  };
}

const b64url = (s: string) => Buffer.from(s).toString('base64url');

export function fakes(seed = 42) {
  const r = rng(seed);
  const pemBody = Array.from({ length: 12 }, () => r(B64, 64)).join('\n');
  return {
    awsKeyId: 'AKIA' + r(UPPER32, 16),
    awsSecret: r(B64, 40),
    ghp: 'ghp_' + r(ALNUM, 36),
    gho: 'gho_' + r(ALNUM, 36),
    githubPat: 'github_pat_' + r(ALNUM, 22) + '_' + r(ALNUM, 59),
    anthropic: 'sk-ant-api03-' + r(URLSAFE, 93) + 'AA',
    openaiProj: 'sk-proj-' + r(URLSAFE, 60) + 'T3BlbkFJ' + r(URLSAFE, 60),
    openaiLegacy: 'sk-' + r(ALNUM, 20) + 'T3BlbkFJ' + r(ALNUM, 20),
    slackBot: 'xoxb-' + r('0123456789', 12) + '-' + r('0123456789', 13) + '-' + r(ALNUM, 24),
    slackWebhookPath: 'T' + r(UPPER32, 8) + '/B' + r(UPPER32, 10) + '/' + r(ALNUM, 24),
    google: 'AIza' + r(URLSAFE, 35),
    stripe: 'sk_live_' + r(ALNUM, 24),
    pemBody,
    pem: `-----BEGIN RSA PRIVATE KEY-----\n${pemBody}\n-----END RSA PRIVATE KEY-----`,
    jwt:
      b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' })) +
      '.' +
      b64url(JSON.stringify({ sub: r(ALNUM, 12), iat: 1700000000, scope: 'admin' })) +
      '.' +
      r(URLSAFE, 43),
    password: r(ALNUM, 10) + '#' + r(ALNUM, 5),
    gitlab: 'glpat-' + r(URLSAFE, 20),
    npm: 'npm_' + r(ALNUM, 36),
    hf: 'hf_' + r(LETTERS, 34),
    bearer: r(URLSAFE, 40),
    dbPassword: r(ALNUM, 14),
  };
}
