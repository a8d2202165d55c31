import { describe, expect, it } from 'vitest';
import {
  collectEvents,
  commandName,
  messageKey,
  replaces,
  toolEvent,
  usageOf,
  type InvocationEvent,
  type ToolResult,
} from '../../pipelines/usage/extract.js';

const assistant = (usage: Record<string, unknown>, extra: Record<string, unknown> = {}, message: Record<string, unknown> = {}) => ({
  type: 'assistant',
  uuid: 'u-1',
  requestId: 'req_1',
  timestamp: '2025-06-08T11:00:13.842Z',
  ...extra,
  message: { id: 'msg_1', model: 'claude-sonnet-4-20250514', content: [], usage, ...message },
});

describe('message keys', () => {
  it('is message.id + requestId, or message.id alone when requestId is absent', () => {
    expect(messageKey({ requestId: 'req_1' }, { id: 'msg_1' })).toBe('msg_1:req_1');
    expect(messageKey({}, { id: 'msg_1' })).toBe('msg_1');
    expect(messageKey({ requestId: '' }, { id: 'msg_1' })).toBe('msg_1');
  });

  it('falls back to the line uuid, then to null (the caller keys by position)', () => {
    expect(messageKey({ uuid: 'abc' }, {})).toBe('uuid:abc');
    expect(messageKey({}, {})).toBeNull();
  });
});

describe('token extraction', () => {
  it('reads the four categories and the total', () => {
    const u = usageOf(
      assistant({ input_tokens: 4, output_tokens: 5, cache_creation_input_tokens: 3968, cache_read_input_tokens: 10215 }),
    )!;
    expect(u).toMatchObject({
      key: 'msg_1:req_1',
      model: 'claude-sonnet-4-20250514',
      input: 4,
      output: 5,
      cacheCreation: 3968,
      cache5m: 3968,
      cache1h: 0,
      cacheRead: 10215,
      total: 4 + 5 + 3968 + 10215,
      speed: null,
    });
  });

  it('splits cache creation into 5m and 1h from usage.cache_creation', () => {
    const u = usageOf(
      assistant({
        input_tokens: 1,
        output_tokens: 2,
        cache_creation_input_tokens: 1000,
        cache_read_input_tokens: 0,
        cache_creation: { ephemeral_5m_input_tokens: 400, ephemeral_1h_input_tokens: 600 },
      }),
    )!;
    expect(u.cacheCreation).toBe(1000);
    expect(u.cache5m).toBe(400);
    expect(u.cache1h).toBe(600);
  });

  it('takes the cache total from the split when the aggregate field is missing', () => {
    const u = usageOf(assistant({ input_tokens: 1, cache_creation: { ephemeral_5m_input_tokens: 5, ephemeral_1h_input_tokens: 7 } }))!;
    expect(u.cacheCreation).toBe(12);
    expect(u.cache1h).toBe(7);
  });

  it('keeps speed when present', () => {
    expect(usageOf(assistant({ input_tokens: 1, speed: 'fast' }))!.speed).toBe('fast');
  });

  it('counts nothing for lines without message.usage, string messages or junk counts', () => {
    expect(usageOf({ type: 'user', message: { role: 'user', content: 'hi' } })).toBeNull();
    expect(usageOf({ type: 'user', message: 'error' })).toBeNull();
    expect(usageOf({ type: 'summary' })).toBeNull();
    const u = usageOf(assistant({ input_tokens: -3, output_tokens: '7', cache_read_input_tokens: null }))!;
    expect(u.total).toBe(0);
  });
});

describe('dedup choice', () => {
  it('keeps the line with the largest total, the first one on ties', () => {
    const early = usageOf(assistant({ input_tokens: 4, output_tokens: 5 }))!;
    const late = usageOf(assistant({ input_tokens: 4, output_tokens: 300 }))!;
    const same = usageOf(assistant({ input_tokens: 4, output_tokens: 300 }))!;
    expect(replaces(early, undefined)).toBe(true);
    expect(replaces(late, early)).toBe(true);
    expect(replaces(early, late)).toBe(false);
    expect(replaces(same, late)).toBe(false);
  });
});

describe('invocation events', () => {
  const run = (line: Record<string, unknown>) => {
    const events: InvocationEvent[] = [];
    const results: ToolResult[] = [];
    collectEvents(line, 'o/s.jsonl', 120, events, results);
    return { events, results };
  };

  it('classifies tool_use blocks: plain tool, Skill, Task/Agent, mcp__server__tool', () => {
    expect(toolEvent('t1', 'Bash', { command: 'ls' })).toMatchObject({ kind: 'tool', name: 'Bash', tool: 'Bash' });
    expect(toolEvent('t2', 'Skill', { skill: 'pdf' })).toMatchObject({ kind: 'skill', name: 'pdf', tool: 'Skill' });
    expect(toolEvent('t3', 'Task', { subagent_type: 'Explore' })).toMatchObject({ kind: 'subagent', name: 'Explore' });
    expect(toolEvent('t4', 'Agent', {})).toMatchObject({ kind: 'subagent', name: '(unspecified)' });
    expect(toolEvent('t5', 'mcp__claude_ai_Notion__notion-search', {})).toMatchObject({
      kind: 'mcp',
      name: 'claude_ai_Notion/notion-search',
      mcpServer: 'claude_ai_Notion',
      mcpTool: 'notion-search',
    });
  });

  it('finds slash commands in user text, string or block content', () => {
    expect(commandName('<command-message>init is analyzing</command-message>\n<command-name>/init</command-name>')).toBe('/init');
    expect(commandName('<command-name>test-command</command-name>')).toBe('/test-command');
    expect(commandName('no command here')).toBeNull();
    expect(run({ type: 'user', uuid: 'u9', message: { content: '<command-name>/review</command-name>' } }).events).toEqual([
      { id: 'cmd:u9', kind: 'command', name: '/review', tool: null, mcpServer: null, mcpTool: null },
    ]);
    expect(run({ type: 'user', message: { content: [{ type: 'text', text: '<command-name>/cost</command-name>' }] } }).events[0].id).toBe(
      'cmd:o/s.jsonl@120',
    );
    // Assistant text that quotes the tag is not a command.
    expect(run({ type: 'assistant', message: { content: [{ type: 'text', text: '<command-name>/x</command-name>' }] } }).events).toEqual([]);
  });

  it('collects tool_use ids and tool_result errors', () => {
    const a = run({
      type: 'assistant',
      message: {
        content: [
          { type: 'text', text: 'hi' },
          { type: 'tool_use', id: 'toolu_1', name: 'Read', input: {} },
          { type: 'tool_use', name: 'Write', input: {} },
        ],
      },
    });
    expect(a.events.map((e) => e.id)).toEqual(['toolu_1', 'o/s.jsonl@120:2']);
    const u = run({
      type: 'user',
      message: {
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', is_error: true, content: 'boom' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: 'ok' },
        ],
      },
    });
    expect(u.results).toEqual([
      { toolUseId: 'toolu_1', isError: true },
      { toolUseId: 'toolu_2', isError: false },
    ]);
  });
});
