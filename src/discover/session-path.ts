/**
 * Which relative paths under the root are session files, and what they mean.
 * Pure: no I/O, so layout rules are tested on strings alone.
 *
 * Layouts:
 *   <owner>/<session>.jsonl                               a session
 *   <owner>/agent-<id>.jsonl                              a 2.0 subagent (parent named inside the file)
 *   <owner>/<session>/subagents/**\/agent-<id>.jsonl      a 2.1 subagent of <session>
 */
import path from 'node:path';

export interface SessionFileRef {
  /** Path relative to the root, with `/` separators: the session key. */
  sessionFile: string;
  /** First path segment. */
  owner: string;
  /**
   * The session this file belongs to. For a 2.1 subagent it is the parent
   * session's id; for a 2.0 flat subagent the parent is only known from the
   * file's lines (`sessionId`), so this is the agent file's own name.
   */
  sessionId: string;
  kind: 'session' | 'subagent';
  /** 2.1 layout: the parent session id taken from the path. */
  parentSessionId?: string;
}

/** Normalise an OS path relative to the root into a session key, or null if it escapes. */
export function toSessionKey(relative: string): string | null {
  const posix = relative.split(path.sep).join('/');
  const norm = path.posix.normalize(posix);
  if (norm.startsWith('../') || norm === '..' || path.posix.isAbsolute(norm)) return null;
  return norm;
}

export function parseSessionPath(sessionFile: string): SessionFileRef | null {
  if (!sessionFile.endsWith('.jsonl')) return null;
  const parts = sessionFile.split('/');
  if (parts.length < 2 || parts.some((p) => p === '' || p === '.' || p === '..')) return null;
  const owner = parts[0];
  const base = parts[parts.length - 1].slice(0, -'.jsonl'.length);
  if (base === '') return null;

  if (parts.length === 2) {
    return {
      sessionFile,
      owner,
      sessionId: base,
      kind: base.startsWith('agent-') ? 'subagent' : 'session',
    };
  }
  // <owner>/<session>/subagents/**/agent-*.jsonl
  if (parts.length >= 4 && parts[2] === 'subagents' && base.startsWith('agent-')) {
    return { sessionFile, owner, sessionId: parts[1], kind: 'subagent', parentSessionId: parts[1] };
  }
  return null;
}

/**
 * parseSessionPath's rule for a file named `name` in a directory whose relative path has the
 * segments `dirParts`, without building the key: a rescan asks it 50k times. Names come from
 * readdir, so they are never '', '.' or '..'.
 */
export function isSessionFileIn(dirParts: readonly string[], name: string): boolean {
  if (!name.endsWith('.jsonl') || name.length === '.jsonl'.length) return false;
  if (dirParts.length === 1) return true;
  return dirParts.length >= 3 && dirParts[2] === 'subagents' && name.startsWith('agent-');
}

/** Split a session key into its directory and file name (at the last `/`). */
export function splitSessionKey(sessionFile: string): [dir: string, name: string] {
  const i = sessionFile.lastIndexOf('/');
  return i < 0 ? ['', sessionFile] : [sessionFile.slice(0, i), sessionFile.slice(i + 1)];
}

/** Whether a directory (relative, `/`-separated, '' for the root) can contain session files. */
export function mayContainSessions(relDir: string): boolean {
  if (relDir === '') return true;
  const parts = relDir.split('/');
  if (parts.length === 1) return true; // <owner>
  if (parts.length === 2) return true; // <owner>/<session>
  return parts[2] === 'subagents';
}

/**
 * Session keys as a store holds them. An embedded (DuckDB) store belongs to one machine and
 * holds the relative key itself. A shared (PostgreSQL) store holds `<source>:<key>`: the
 * source name (`--source-name`, default the hostname) says whose transcripts, so two hosts'
 * `alice/x.jsonl` are two session files. A source name holds neither `:` nor `/`, so the
 * first `:` always ends it. The owner stays the first segment of the relative key (an owner
 * report adds up `alice` over every source); inside the process every key is relative, and
 * only what is written to or read from the store is qualified.
 */
export interface SessionKeys {
  /** null: keys are stored as they are (embedded store). */
  readonly source: string | null;
  /** The stored key of a relative key. */
  stored(key: string): string;
  /** The relative key of a stored one, or null when it belongs to another source. */
  local(stored: string): string | null;
}

/** Whether a name can qualify keys: not empty, no `:` or `/`, no control characters. */
export function isValidSourceName(name: string): boolean {
  // eslint-disable-next-line no-control-regex
  return name.length > 0 && name.length <= 200 && !/[:/\u0000-\u001f\u007f]/.test(name);
}

export function sessionKeys(source: string | null): SessionKeys {
  if (source === null) return UNQUALIFIED;
  if (!isValidSourceName(source)) throw new Error(`invalid source name ${JSON.stringify(source)}: no ':', '/' or control characters`);
  const prefix = `${source}:`;
  return {
    source,
    stored: (key) => prefix + key,
    local: (stored) => (stored.startsWith(prefix) ? stored.slice(prefix.length) : null),
  };
}

const UNQUALIFIED: SessionKeys = { source: null, stored: (key) => key, local: (stored) => stored };

/** The ref a processor sees: its session file under the stored key (what its rows hold). */
export function storedRef(ref: SessionFileRef, keys: SessionKeys): SessionFileRef {
  return keys.source === null ? ref : { ...ref, sessionFile: keys.stored(ref.sessionFile) };
}
