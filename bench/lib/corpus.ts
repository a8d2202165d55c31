/**
 * A deterministic generator of realistic Claude Code session transcripts, for
 * benchmarks. Everything comes from one seeded PRNG, so a (seed, options) pair
 * always writes the same bytes.
 *
 * Line shapes follow real transcripts (see test/fixtures/corpus): user
 * prompts (string, text blocks, slash commands), streamed assistant messages
 * (one line per content block, sharing `message.id` + `requestId`, usage
 * repeated with a smaller `output_tokens` on early lines), tool results
 * (`tool_result` blocks plus the `toolUseResult` copy Claude Code keeps, which
 * is what makes file reads and edits big), and the odd system/summary line.
 *
 * Layout: `<root>/<owner>/<session>.jsonl`, plus subagent files in both the 2.0
 * (`<owner>/agent-<id>.jsonl`) and 2.1 (`<owner>/<session>/subagents/agent-<id>.jsonl`) layouts.
 */
import fs from 'node:fs';
import path from 'node:path';

// ---------------------------------------------------------------- randomness

export type Rng = () => number;

/** mulberry32: small, fast, good enough for synthetic data. Returns [0, 1). */
export function makeRng(seed: number): Rng {
  let a = seed >>> 0 || 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
export const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];
export const chance = (rng: Rng, p: number): boolean => rng() < p;

function gaussian(rng: Rng): number {
  const u = 1 - rng();
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Log-normal with the given median; `sigma` controls the tail. */
export function logNormal(rng: Rng, median: number, sigma: number): number {
  return median * Math.exp(sigma * gaussian(rng));
}

function weighted<T>(rng: Rng, table: readonly (readonly [T, number])[]): T {
  let total = 0;
  for (const [, w] of table) total += w;
  let x = rng() * total;
  for (const [v, w] of table) {
    x -= w;
    if (x < 0) return v;
  }
  return table[table.length - 1][0];
}

const HEX = '0123456789abcdef';
const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function chars(rng: Rng, alphabet: string, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rng() * alphabet.length)];
  return s;
}

export function uuid(rng: Rng): string {
  const h = chars(rng, HEX, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${HEX[8 + Math.floor(rng() * 4)]}${h.slice(17, 20)}-${h.slice(20)}`;
}

const msgId = (rng: Rng) => `msg_01${chars(rng, B62, 22)}`;
const reqId = (rng: Rng) => `req_011C${chars(rng, B62, 20)}`;
const toolId = (rng: Rng) => `toolu_01${chars(rng, B62, 22)}`;

// ---------------------------------------------------------------- text

const WORDS = (
  'the a to of and in is that for it with as on be this are by an or from at config file user session ' +
  'error value data line offset table state commit batch processor test build run update check handle ' +
  'return result request response cache token model usage parse read write stream index query schema ' +
  'should would could need fix add remove change refactor because when then also only now first next'
).split(' ');
const IDENTS = (
  'config user session handler result value options buffer reader writer offset count items rows batch ' +
  'state cache client server request response payload logger entry record stats index path file stream ' +
  'parseLine loadConfig runOnce fetchData createTable applyPatch withRetry toJson fromRow emitEvent'
).split(' ');
const EXTS = ['ts', 'ts', 'ts', 'tsx', 'js', 'py', 'go', 'rs', 'md', 'json', 'sql', 'yaml'];
const DIRS = ['src', 'src/lib', 'src/api', 'src/components', 'test', 'scripts', 'pkg/core', 'internal/db', 'docs', 'app'];

/** A pool of code-like lines, built once, sliced for file contents and outputs. */
let CODE: string[] | null = null;
function codeLines(): string[] {
  if (CODE) return CODE;
  const rng = makeRng(0xc0de);
  const out: string[] = [];
  const templates: ((r: Rng) => string)[] = [
    (r) => `${'  '.repeat(int(r, 0, 3))}const ${pick(r, IDENTS)} = await ${pick(r, IDENTS)}(${pick(r, IDENTS)}, ${int(r, 0, 999)});`,
    (r) => `${'  '.repeat(int(r, 0, 3))}if (${pick(r, IDENTS)}.${pick(r, IDENTS)} === null) return ${pick(r, IDENTS)};`,
    (r) => `${'  '.repeat(int(r, 0, 2))}// ${Array.from({ length: int(r, 3, 12) }, () => pick(r, WORDS)).join(' ')}`,
    (r) => `export function ${pick(r, IDENTS)}(${pick(r, IDENTS)}: string, ${pick(r, IDENTS)}?: number): ${pick(r, ['void', 'string', 'Promise<void>', 'Row[]'])} {`,
    (r) => `${'  '.repeat(int(r, 1, 3))}${pick(r, IDENTS)}.push({ id: "${chars(r, HEX, 8)}", ${pick(r, IDENTS)}: ${int(r, 0, 99999)} });`,
    (r) => `${'  '.repeat(int(r, 1, 2))}throw new Error(\`${pick(r, WORDS)} ${pick(r, WORDS)} failed: \${${pick(r, IDENTS)}}\`);`,
    () => '}',
    () => '',
    (r) => `import { ${pick(r, IDENTS)}, ${pick(r, IDENTS)} } from './${pick(r, IDENTS)}.js';`,
    (r) => `${'  '.repeat(int(r, 1, 3))}for (const ${pick(r, IDENTS)} of ${pick(r, IDENTS)}) ${pick(r, IDENTS)} += ${pick(r, IDENTS)}.length;`,
    (r) => `${'  '.repeat(int(r, 0, 2))}log.info({ ${pick(r, IDENTS)}, ${pick(r, IDENTS)} }, '${pick(r, WORDS)} ${pick(r, WORDS)} — ${pick(r, WORDS)}');`,
  ];
  for (let i = 0; i < 8192; i++) out.push(pick(rng, templates)(rng));
  CODE = out;
  return out;
}

function prose(rng: Rng, words: number): string {
  let s = '';
  for (let i = 0; i < words; i++) {
    const w = pick(rng, WORDS);
    s += i === 0 ? w[0].toUpperCase() + w.slice(1) : (chance(rng, 0.08) ? '. ' + w[0].toUpperCase() + w.slice(1) : ' ' + w);
  }
  return s + '.';
}

/** About `bytes` of code, optionally with Read-style line numbers. */
function code(rng: Rng, bytes: number, numbered: boolean, start = 1): { text: string; lines: number } {
  const pool = codeLines();
  let i = Math.floor(rng() * pool.length);
  const parts: string[] = [];
  let n = 0;
  let len = 0;
  while (len < bytes) {
    const l = pool[i++ % pool.length];
    const s = numbered ? `${String(start + n).padStart(6, ' ')}\u2192${l}` : l;
    parts.push(s);
    len += s.length + 1;
    n++;
  }
  return { text: parts.join('\n'), lines: n };
}

// ---------------------------------------------------------------- sessions

export interface SessionContext {
  sessionId: string;
  cwd: string;
  gitBranch: string;
  version: string;
  isSidechain: boolean;
  /** Subagent files carry their agent id. */
  agentId?: string;
  /** uuid of the last line written (parent of the next). */
  lastUuid: string | null;
  /** Epoch ms of the last line. */
  t: number;
}

const MODELS: readonly (readonly [string, number])[] = [
  ['claude-sonnet-4-5-20250929', 50],
  ['claude-opus-4-1-20250805', 15],
  ['claude-sonnet-4-20250514', 15],
  ['claude-haiku-4-5-20251001', 12],
  ['claude-opus-4-5-20251101', 8],
];
const VERSIONS = ['1.0.98', '1.0.120', '2.0.14', '2.0.28', '2.0.37', '2.0.50'];
const BRANCHES = ['main', 'main', 'main', 'dev', 'feature/usage-report', 'fix/flaky-test', ''];
const SLASH = ['/review', '/init', '/compact', '/clear', '/cost', '/pr-comments', '/security-review', '/test'];
const SKILLS = ['pdf', 'xlsx', 'docx', 'webapp-testing', 'frontend-design', 'mcp-builder'];
const SUBAGENTS = ['general-purpose', 'Explore', 'Plan', 'code-reviewer', 'test-runner'];
const MCP = ['mcp__github__create_issue', 'mcp__github__create_issue', 'mcp__github__get_pull_request', 'mcp__linear__list_issues'];

type Tool =
  | 'Read' | 'Bash' | 'Edit' | 'Write' | 'Grep' | 'Glob' | 'TodoWrite' | 'Task' | 'Skill' | 'WebFetch' | 'mcp';
const TOOLS: readonly (readonly [Tool, number])[] = [
  ['Read', 24], ['Bash', 24], ['Edit', 14], ['Grep', 6], ['Glob', 5], ['Write', 4], ['TodoWrite', 6],
  ['Task', 4], ['Skill', 3], ['WebFetch', 2], ['mcp', 3],
];

export interface LineOptions {
  /** Upper bound for one tool result's content, bytes (small files get small results). */
  maxResult?: number;
}

/**
 * An endless stream of realistic transcript lines (JSON strings, no newline)
 * for one session, turn after turn. Mutates `ctx` (parent uuid, clock) as it goes.
 */
export function* sessionLines(rng: Rng, ctx: SessionContext, opts: LineOptions = {}): Generator<string> {
  const maxResult = Math.max(512, opts.maxResult ?? 256 * 1024);
  const model = weighted(rng, MODELS);
  let cacheRead = int(rng, 8000, 20000);
  const files = Array.from({ length: int(rng, 4, 30) }, () => `${ctx.cwd}/${pick(rng, DIRS)}/${pick(rng, IDENTS)}.${pick(rng, EXTS)}`);

  const base = (type: string): Record<string, unknown> => {
    ctx.t += int(rng, 20, chance(rng, 0.05) ? 120_000 : 4000);
    const u = uuid(rng);
    const o: Record<string, unknown> = {
      parentUuid: ctx.lastUuid,
      isSidechain: ctx.isSidechain,
      userType: 'external',
      cwd: ctx.cwd,
      sessionId: ctx.sessionId,
      version: ctx.version,
      gitBranch: ctx.gitBranch,
    };
    if (ctx.agentId) o.agentId = ctx.agentId;
    o.type = type;
    o.uuid = u;
    o.timestamp = new Date(ctx.t).toISOString();
    ctx.lastUuid = u;
    return o;
  };
  const resultSize = (median: number) => Math.min(maxResult, Math.max(16, Math.round(logNormal(rng, median, 1.1))));

  for (;;) {
    // --- the user's prompt
    const prompt = base('user');
    const kind = rng();
    if (kind < 0.1) {
      const cmd = pick(rng, SLASH);
      prompt.message = {
        role: 'user',
        content: `<command-message>${cmd.slice(1)} is running\u2026</command-message>\n<command-name>${cmd}</command-name>\n<command-args>${chance(rng, 0.5) ? `PR ${int(rng, 1, 900)}` : ''}</command-args>`,
      };
    } else if (kind < 0.2) {
      prompt.message = { role: 'user', content: [{ type: 'text', text: prose(rng, int(rng, 5, 120)) }] };
    } else {
      prompt.message = { role: 'user', content: prose(rng, int(rng, 4, chance(rng, 0.1) ? 600 : 60)) };
    }
    yield JSON.stringify(prompt);

    // --- assistant steps until the turn ends
    const steps = 1 + Math.min(25, Math.floor(-Math.log(1 - rng()) * 4));
    for (let step = 0; step < steps; step++) {
      const last = step === steps - 1;
      const id = msgId(rng);
      const requestId = reqId(rng);
      const blocks: Record<string, unknown>[] = [];
      if (chance(rng, 0.3)) blocks.push({ type: 'thinking', thinking: prose(rng, int(rng, 20, 300)), signature: chars(rng, B62, 300) });
      if (last || chance(rng, 0.6)) blocks.push({ type: 'text', text: prose(rng, int(rng, 5, last ? 250 : 60)) });
      const uses: { id: string; tool: Tool; name: string; input: Record<string, unknown> }[] = [];
      if (!last) {
        const nTools = chance(rng, 0.75) ? 1 : int(rng, 2, 4);
        for (let k = 0; k < nTools; k++) {
          const tool = weighted(rng, TOOLS);
          const use = makeToolUse(rng, tool, files, ctx.cwd);
          uses.push(use);
          blocks.push({ type: 'tool_use', id: use.id, name: use.name, input: use.input });
        }
      }
      const cacheCreation = chance(rng, 0.7) ? int(rng, 0, 6000) : 0;
      const oneHour = chance(rng, 0.2) ? Math.floor(cacheCreation / 2) : 0;
      const input = int(rng, 1, 12);
      const outputFinal = int(rng, 20, chance(rng, 0.1) ? 8000 : 1200);
      for (let b = 0; b < blocks.length; b++) {
        const isLast = b === blocks.length - 1;
        const line = base('assistant');
        line.message = {
          id,
          type: 'message',
          role: 'assistant',
          model,
          content: [blocks[b]],
          stop_reason: isLast ? (uses.length > 0 ? 'tool_use' : 'end_turn') : null,
          stop_sequence: null,
          usage: {
            input_tokens: input,
            cache_creation_input_tokens: cacheCreation,
            cache_read_input_tokens: cacheRead,
            cache_creation: { ephemeral_5m_input_tokens: cacheCreation - oneHour, ephemeral_1h_input_tokens: oneHour },
            output_tokens: isLast ? outputFinal : int(rng, 1, Math.min(30, outputFinal)),
            service_tier: 'standard',
          },
        };
        line.requestId = requestId;
        // Move requestId/type/uuid/timestamp after message, as Claude Code does.
        yield JSON.stringify(reorder(line));
      }
      cacheRead += cacheCreation + int(rng, 50, 3000);

      // --- tool results, one user line each
      for (const use of uses) {
        const line = base('user');
        const r = makeToolResult(rng, use, resultSize);
        const block: Record<string, unknown> = { tool_use_id: use.id, type: 'tool_result', content: r.content };
        if (r.isError) block.is_error = true;
        line.message = { role: 'user', content: [block] };
        line.toolUseResult = r.toolUseResult;
        yield JSON.stringify(line);
      }
    }

    // --- the occasional bookkeeping line
    if (chance(rng, 0.05)) {
      const sys = base('system');
      sys.subtype = 'informational';
      sys.content = `Context left until auto-compact: ${int(rng, 1, 30)}%`;
      sys.level = 'info';
      yield JSON.stringify(sys);
    }
    if (chance(rng, 0.02)) {
      yield JSON.stringify({ type: 'summary', summary: prose(rng, int(rng, 3, 9)), leafUuid: ctx.lastUuid });
    }
  }
}

function reorder(o: Record<string, unknown>): Record<string, unknown> {
  const { type, uuid: u, timestamp, requestId, ...rest } = o;
  return { ...rest, requestId, type, uuid: u, timestamp };
}

function makeToolUse(rng: Rng, tool: Tool, files: string[], cwd: string) {
  const id = toolId(rng);
  const file = pick(rng, files);
  switch (tool) {
    case 'Read':
      return { id, tool, name: 'Read', input: chance(rng, 0.8) ? { file_path: file } : { file_path: file, offset: int(rng, 1, 400), limit: int(rng, 50, 400) } };
    case 'Bash':
      return {
        id, tool, name: 'Bash',
        input: { command: pick(rng, ['npm test', 'npm run build', 'git status', 'git diff --stat', `ls -la ${cwd}`, 'npx tsc --noEmit', `rg -n "${pick(rng, IDENTS)}" src`, 'cargo test', 'pytest -q']), description: prose(rng, int(rng, 3, 8)) },
      };
    case 'Edit': {
      const c = codeLines();
      const at = int(rng, 0, c.length - 10);
      return { id, tool, name: 'Edit', input: { file_path: file, old_string: c.slice(at, at + int(rng, 1, 6)).join('\n'), new_string: c.slice(at + 3, at + 3 + int(rng, 1, 8)).join('\n') } };
    }
    case 'Write':
      return { id, tool, name: 'Write', input: { file_path: file, content: code(rng, int(rng, 300, 6000), false).text } };
    case 'Grep':
      return { id, tool, name: 'Grep', input: { pattern: pick(rng, IDENTS), path: cwd, output_mode: 'content', '-n': true } };
    case 'Glob':
      return { id, tool, name: 'Glob', input: { pattern: `**/*.${pick(rng, EXTS)}` } };
    case 'TodoWrite':
      return {
        id, tool, name: 'TodoWrite',
        input: { todos: Array.from({ length: int(rng, 2, 7) }, () => ({ content: prose(rng, int(rng, 3, 10)), status: pick(rng, ['pending', 'in_progress', 'completed']), activeForm: prose(rng, 4) })) },
      };
    case 'Task':
      return { id, tool, name: 'Task', input: { description: prose(rng, 4), prompt: prose(rng, int(rng, 30, 200)), subagent_type: pick(rng, SUBAGENTS) } };
    case 'Skill':
      return { id, tool, name: 'Skill', input: { skill: pick(rng, SKILLS) } };
    case 'WebFetch':
      return { id, tool, name: 'WebFetch', input: { url: `https://docs.example.com/${pick(rng, IDENTS)}`, prompt: prose(rng, 10) } };
    case 'mcp': {
      const name = pick(rng, MCP);
      return { id, tool, name, input: { owner: 'acme', repo: pick(rng, ['webapp', 'api', 'infra']), title: prose(rng, int(rng, 4, 10)), body: prose(rng, int(rng, 20, 150)) } };
    }
  }
}

function makeToolResult(
  rng: Rng,
  use: { tool: Tool; name: string; input: Record<string, unknown> },
  size: (median: number) => number,
): { content: unknown; isError: boolean; toolUseResult: unknown } {
  const isError = chance(rng, use.tool === 'Bash' ? 0.1 : 0.03);
  if (isError) {
    const msg = use.tool === 'Bash' ? `Error: Command failed with exit code ${int(rng, 1, 2)}\n${code(rng, size(600), false).text}` : `<tool_use_error>${prose(rng, 12)}</tool_use_error>`;
    return { content: msg, isError, toolUseResult: `Error: ${msg.slice(0, 200)}` };
  }
  switch (use.tool) {
    case 'Read': {
      const c = code(rng, size(6000), true);
      return {
        content: c.text, isError,
        toolUseResult: { type: 'text', file: { filePath: use.input.file_path, content: c.text.replace(/^ *\d+\u2192/gm, ''), numLines: c.lines, startLine: 1, totalLines: c.lines } },
      };
    }
    case 'Bash': {
      const out = code(rng, size(900), false).text;
      return { content: out, isError, toolUseResult: { stdout: out, stderr: '', interrupted: false, isImage: false } };
    }
    case 'Edit': {
      const snippet = code(rng, size(1200), true, int(rng, 1, 300)).text;
      return {
        content: `The file ${use.input.file_path} has been updated. Here's the result of running \`cat -n\` on a snippet of the edited file:\n${snippet}`,
        isError,
        toolUseResult: {
          filePath: use.input.file_path,
          oldString: use.input.old_string,
          newString: use.input.new_string,
          originalFile: code(rng, size(5000), false).text,
          structuredPatch: [{ oldStart: int(rng, 1, 300), oldLines: 6, newStart: int(rng, 1, 300), newLines: 8, lines: String(use.input.new_string).split('\n').map((l) => `+${l}`) }],
          userModified: false,
          replaceAll: false,
        },
      };
    }
    case 'Write':
      return { content: `File created successfully at: ${use.input.file_path}`, isError, toolUseResult: { type: 'create', filePath: use.input.file_path, content: use.input.content, structuredPatch: [] } };
    case 'Grep': {
      const out = code(rng, size(1500), false).text.split('\n').map((l, i) => `src/${pick(rng, IDENTS)}.ts:${i + 1}:${l}`).join('\n');
      return { content: out, isError, toolUseResult: { mode: 'content', numFiles: 0, filenames: [], content: out, numLines: out.split('\n').length } };
    }
    case 'Glob': {
      const names = Array.from({ length: int(rng, 0, 60) }, () => `${pick(rng, DIRS)}/${pick(rng, IDENTS)}.ts`);
      return { content: names.length ? names.join('\n') : 'No files found', isError, toolUseResult: { filenames: names, durationMs: int(rng, 2, 80), numFiles: names.length, truncated: false } };
    }
    case 'TodoWrite':
      return {
        content: 'Todos have been modified successfully. Ensure that you continue to use the todo list to track your progress. Please proceed with the current tasks if applicable',
        isError,
        toolUseResult: { oldTodos: [], newTodos: use.input.todos },
      };
    case 'Task': {
      const report = prose(rng, Math.round(size(3000) / 6));
      return {
        content: [{ type: 'text', text: report }], isError,
        toolUseResult: { status: 'completed', prompt: use.input.prompt, content: [{ type: 'text', text: report }], totalDurationMs: int(rng, 5000, 300000), totalTokens: int(rng, 2000, 90000), totalToolUseCount: int(rng, 1, 40) },
      };
    }
    case 'Skill':
      return { content: `Launching skill: ${use.input.skill}`, isError, toolUseResult: { success: true, commandName: use.input.skill } };
    case 'WebFetch': {
      const text = prose(rng, Math.round(size(2500) / 6));
      return { content: text, isError, toolUseResult: { bytes: text.length * 3, code: 200, codeText: 'OK', result: text, durationMs: int(rng, 200, 4000), url: use.input.url } };
    }
    case 'mcp': {
      const body = JSON.stringify({ number: int(rng, 1, 5000), html_url: `https://github.com/acme/x/issues/${int(rng, 1, 5000)}`, state: 'open', title: use.input.title, body: use.input.body });
      return { content: [{ type: 'text', text: body }], isError, toolUseResult: [{ type: 'text', text: body }] };
    }
  }
}

/** One realistic line (JSON, no newline), e.g. for tests and latency probes. */
export function oneLine(rng: Rng, ctx?: SessionContext): string {
  const c = ctx ?? newContext(rng, '/Users/dev/project');
  // Skip a random number of lines so the kind varies.
  const it = sessionLines(rng, c, { maxResult: 8192 });
  let line = '';
  for (let i = int(rng, 1, 12); i > 0; i--) line = it.next().value as string;
  return line;
}

export function newContext(rng: Rng, cwd: string, sessionId = uuid(rng)): SessionContext {
  return {
    sessionId,
    cwd,
    gitBranch: pick(rng, BRANCHES),
    version: pick(rng, VERSIONS),
    isSidechain: false,
    lastUuid: null,
    t: Date.UTC(2025, 8, 1) + Math.floor(rng() * 90 * 86_400_000),
  };
}

// ---------------------------------------------------------------- corpus

export interface CorpusOptions {
  files: number;
  totalBytes: number;
  owners: number;
  seed: number;
  /** Fraction of files that are subagent transcripts (both layouts). Default 0.08. */
  subagents?: number;
}

export interface Corpus {
  /** Absolute paths. */
  files: string[];
  bytes: number;
  lines: number;
}

const USERS = ['alice', 'bob', 'chip', 'dana', 'eli'];
const PROJECTS = ['webapp', 'api-server', 'ml-pipeline', 'infra', 'docs-site', 'mobile-app', 'session-pipeline', 'data-tools', 'cli', 'billing'];

/**
 * Target sizes: heavy-tailed. One or two 10+ MB files when the budget allows,
 * the rest log-normal (median a few KB to tens of KB, a tail of MB-sized
 * files), scaled so the sum is about `totalBytes`.
 */
export function planSizes(rng: Rng, files: number, totalBytes: number): number[] {
  const MB = 1 << 20;
  const sizes: number[] = [];
  let budget = totalBytes;
  const nBig = totalBytes >= 60 * MB && files >= 50 ? 2 : totalBytes >= 30 * MB && files >= 20 ? 1 : 0;
  for (let i = 0; i < nBig; i++) {
    const s = Math.round((10.5 + rng() * 3.5) * MB);
    sizes.push(s);
    budget -= s;
  }
  const rest = files - nBig;
  const raw = Array.from({ length: rest }, () => logNormal(rng, 1, 2.1));
  const min = 2 * 1024;
  const max = Math.max(min, Math.min(8 * MB, budget / 4));
  // Scale to the budget, clamping; a few rounds converge.
  let scaled = raw.slice();
  for (let round = 0; round < 6; round++) {
    const sum = scaled.reduce((a, b) => a + b, 0);
    const k = budget / sum;
    scaled = scaled.map((x) => Math.min(max, Math.max(min, x * k)));
  }
  for (const s of scaled) sizes.push(Math.round(s));
  // Shuffle so the big files are not first in the directory order.
  for (let i = sizes.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [sizes[i], sizes[j]] = [sizes[j], sizes[i]];
  }
  return sizes;
}

/** Write lines from `gen` until at least `target` bytes; returns [text, bytes, lines]. */
function fill(gen: Generator<string>, target: number): { text: string; bytes: number; lines: number } {
  const parts: string[] = [];
  let bytes = 0;
  while (bytes < target) {
    const l = gen.next().value as string;
    parts.push(l);
    bytes += Buffer.byteLength(l) + 1;
  }
  parts.push('');
  return { text: parts.join('\n'), bytes, lines: parts.length - 1 };
}

export function generateCorpus(root: string, opts: CorpusOptions): Corpus {
  const rng = makeRng(opts.seed);
  const owners = Array.from({ length: Math.max(1, opts.owners) }, (_, i) => {
    const user = USERS[i % USERS.length];
    const project = PROJECTS[Math.floor(i / USERS.length) % PROJECTS.length] + (i >= USERS.length * PROJECTS.length ? `-${i}` : '');
    const cwd = `/Users/${user}/dev/${project}`;
    return { cwd, dir: cwd.replace(/[/.]/g, '-') };
  });
  const sizes = planSizes(rng, opts.files, opts.totalBytes);
  const subFraction = opts.subagents ?? 0.08;
  const sessionsByOwner = new Map<number, string[]>();
  const out: Corpus = { files: [], bytes: 0, lines: 0 };
  for (const dir of new Set(owners.map((o) => o.dir))) fs.mkdirSync(path.join(root, dir), { recursive: true });

  for (let i = 0; i < sizes.length; i++) {
    const target = sizes[i];
    const oi = Math.floor(rng() * owners.length);
    const owner = owners[oi];
    const parents = sessionsByOwner.get(oi) ?? [];
    // Subagents are smallish and need a parent session in the same project.
    const isSub = parents.length > 0 && target < 2 << 20 && chance(rng, subFraction);
    let file: string;
    let ctx: SessionContext;
    if (isSub) {
      const parent = pick(rng, parents);
      const agent = chars(rng, HEX, 8);
      ctx = { ...newContext(rng, owner.cwd, parent), isSidechain: true, agentId: agent };
      if (chance(rng, 0.5)) {
        file = path.join(root, owner.dir, `agent-${agent}.jsonl`);
      } else {
        const dir = path.join(root, owner.dir, parent, 'subagents');
        fs.mkdirSync(dir, { recursive: true });
        file = path.join(dir, `agent-${agent}.jsonl`);
      }
    } else {
      ctx = newContext(rng, owner.cwd);
      parents.push(ctx.sessionId);
      sessionsByOwner.set(oi, parents);
      file = path.join(root, owner.dir, `${ctx.sessionId}.jsonl`);
    }
    const gen = sessionLines(rng, ctx, { maxResult: Math.min(400 * 1024, Math.max(1024, Math.round(target / 4))) });
    const { text, bytes, lines } = fill(gen, target);
    fs.writeFileSync(file, text);
    out.files.push(file);
    out.bytes += bytes;
    out.lines += lines;
  }
  return out;
}

// ---------------------------------------------------------------- growing sessions

/** Rebuild a session's context from the last complete line of its file. */
export function contextFromFile(file: string, rng: Rng): SessionContext {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    let span = 64 * 1024;
    for (;;) {
      const start = Math.max(0, size - span);
      const buf = Buffer.alloc(size - start);
      fs.readSync(fd, buf, 0, buf.length, start);
      const text = buf.toString('utf8');
      const lines = text.split('\n').filter((l) => l.trim() !== '');
      // The first line of a window may be cut; only trust it when the window starts at 0.
      for (let i = lines.length - 1; i >= (start === 0 ? 0 : 1); i--) {
        let v: Record<string, unknown>;
        try {
          v = JSON.parse(lines[i]);
        } catch {
          continue;
        }
        if (typeof v.sessionId !== 'string') continue;
        const t = Date.parse(String(v.timestamp));
        return {
          sessionId: v.sessionId,
          cwd: typeof v.cwd === 'string' ? v.cwd : '/Users/dev/project',
          gitBranch: typeof v.gitBranch === 'string' ? v.gitBranch : 'main',
          version: typeof v.version === 'string' ? v.version : '2.0.28',
          isSidechain: v.isSidechain === true,
          agentId: typeof v.agentId === 'string' ? v.agentId : undefined,
          lastUuid: typeof v.uuid === 'string' ? v.uuid : null,
          t: Number.isFinite(t) ? t : Date.UTC(2025, 9, 1),
        };
      }
      if (start === 0) break;
      span *= 4;
    }
    return newContext(rng, '/Users/dev/project', path.basename(file, '.jsonl'));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Append `n` realistic lines (continuing the session: same ids, parent chain,
 * later timestamps) to an existing transcript. Returns what was appended.
 */
export function appendLines(file: string, n: number, rng: Rng, opts: LineOptions = {}): { bytes: number; lines: number } {
  const ctx = contextFromFile(file, rng);
  const gen = sessionLines(rng, ctx, { maxResult: opts.maxResult ?? 64 * 1024 });
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(gen.next().value as string);
  const text = parts.join('\n') + '\n';
  fs.appendFileSync(file, text);
  return { bytes: Buffer.byteLength(text), lines: n };
}
