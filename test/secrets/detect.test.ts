/**
 * Every rule: true positives, and the false positives it must not report.
 */
import { describe, expect, it } from 'vitest';
import { compileRules, detect, shannonEntropy, charClasses, normalizeSecret } from '../../pipelines/shared/credentials/detect.js';
import { BUILT_IN_RULES, mergeRules } from '../../pipelines/shared/credentials/rules.js';
import { fakes, rng } from './fakes.js';

const set = compileRules(mergeRules());
const f = fakes(7);
const r = rng(99);

function found(text: string): { rule: string; secret: string }[] {
  return detect(text, set).map((m) => ({ rule: m.rule, secret: m.secret }));
}
const rules = (text: string) => found(text).map((x) => x.rule);

describe('rule table', () => {
  it('covers the required kinds and has unique ids', () => {
    const ids = BUILT_IN_RULES.map((x) => x.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of [
      'aws-access-key-id',
      'aws-secret-access-key',
      'github-token',
      'anthropic-api-key',
      'openai-api-key',
      'slack-token',
      'google-api-key',
      'stripe-key',
      'private-key',
      'jwt',
      'generic-secret',
    ]) {
      expect(ids).toContain(id);
    }
  });

  it('puts generic rules last', () => {
    const merged = mergeRules();
    const firstGeneric = merged.findIndex((x) => x.generic);
    expect(merged.slice(firstGeneric).every((x) => x.generic)).toBe(true);
  });

  it('skips text without any keyword', () => {
    expect(found('just a normal sentence about code and tests, nothing to see')).toEqual([]);
  });
});

describe('entropy and classes', () => {
  it('computes Shannon entropy in bits per character', () => {
    expect(shannonEntropy('')).toBe(0);
    expect(shannonEntropy('aaaa')).toBe(0);
    expect(shannonEntropy('abcd')).toBeCloseTo(2);
    expect(shannonEntropy('0123456789abcdef')).toBeCloseTo(4);
    expect(shannonEntropy('changeme')).toBeLessThan(3);
  });
  it('counts character classes', () => {
    expect(charClasses('abc')).toBe(1);
    expect(charClasses('aB3!')).toBe(4);
  });
  it('normalises line breaks and Read line numbers out of key blocks', () => {
    expect(normalizeSecret('ab\ncd')).toBe('abcd');
    expect(normalizeSecret('ab\\ncd')).toBe('abcd');
    expect(normalizeSecret('     1→ab\n     2→cd')).toBe('abcd');
    expect(normalizeSecret('plain')).toBe('plain');
  });
});

describe('aws-access-key-id', () => {
  it('finds AKIA/ASIA key ids', () => {
    expect(found(`export AWS_ACCESS_KEY_ID=${f.awsKeyId}`)).toEqual([{ rule: 'aws-access-key-id', secret: f.awsKeyId }]);
    const asia = 'ASIA' + f.awsKeyId.slice(4);
    expect(rules(`"AccessKeyId": "${asia}"`)).toEqual(['aws-access-key-id']);
  });
  it('ignores the documentation example, low entropy and embedded strings', () => {
    // AKIAIOSFODNN7EXAMPLE is AWS's documentation key: every tutorial has it; not a finding.
    expect(found('aws_access_key_id = AKIAIOSFODNN7EXAMPLE')).toEqual([]);
    expect(found('AKIAAAAAAAAAAAAAAAAA')).toEqual([]);
    expect(found(`x${f.awsKeyId}y`)).toEqual([]);
    expect(found(f.awsKeyId.toLowerCase())).toEqual([]);
  });
});

describe('aws-secret-access-key', () => {
  it('finds 40-char secrets next to an AWS secret keyword', () => {
    expect(found(`aws_secret_access_key = ${f.awsSecret}`)).toEqual([{ rule: 'aws-secret-access-key', secret: f.awsSecret }]);
    expect(rules(`export AWS_SECRET_ACCESS_KEY="${f.awsSecret}"`)).toEqual(['aws-secret-access-key']);
    expect(rules(`{"SecretAccessKey": "${f.awsSecret}", "SessionToken": "x"}`)).toEqual(['aws-secret-access-key']);
  });
  it('does not take a git SHA or a bare base64 string for an AWS secret', () => {
    const sha = r('0123456789abcdef', 40);
    expect(found(`commit ${sha}\nAuthor: someone`)).toEqual([]);
    expect(found(`see ${f.awsSecret} in the logs`)).toEqual([]);
    // Next to the keyword a hex value is not an AWS secret (entropy), though the generic rule reports it.
    expect(rules(`aws_secret_access_key = ${sha}`)).toEqual(['generic-secret']);
  });
  it('ignores the documentation example', () => {
    expect(found('aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')).toEqual([]);
  });
});

describe('github-token', () => {
  it('finds classic, OAuth and fine-grained tokens', () => {
    expect(found(`GITHUB_TOKEN=${f.ghp} gh auth status`)).toEqual([{ rule: 'github-token', secret: f.ghp }]);
    expect(rules(`token: ${f.gho}`)).toEqual(['github-token']);
    expect(found(`git clone https://${f.githubPat}@github.com/o/r`).map((x) => x.secret)).toEqual([f.githubPat]);
  });
  it('ignores placeholders and short strings', () => {
    expect(found('ghp_' + 'x'.repeat(36))).toEqual([]);
    expect(found('GITHUB_TOKEN=ghp_your_token_here')).toEqual([]);
    expect(found('ghp_' + f.ghp.slice(4, 24))).toEqual([]);
  });
});

describe('anthropic-api-key', () => {
  it('finds sk-ant keys (and not as OpenAI keys)', () => {
    expect(found(`ANTHROPIC_API_KEY=${f.anthropic}`)).toEqual([{ rule: 'anthropic-api-key', secret: f.anthropic }]);
  });
  it('ignores placeholders', () => {
    expect(found('ANTHROPIC_API_KEY=sk-ant-api03-' + 'x'.repeat(95))).toEqual([]);
    expect(found('export ANTHROPIC_API_KEY=sk-ant-...')).toEqual([]);
  });
});

describe('openai-api-key', () => {
  it('finds project and legacy keys', () => {
    expect(found(`OPENAI_API_KEY=${f.openaiProj}`)).toEqual([{ rule: 'openai-api-key', secret: f.openaiProj }]);
    expect(rules(`openai.api_key = "${f.openaiLegacy}"`)).toEqual(['openai-api-key']);
  });
  it('ignores placeholders and words with sk-', () => {
    expect(found('sk-' + 'x'.repeat(48))).toEqual([]);
    expect(found('task-runner disk-usage risk-assessment sk-proj-abc')).toEqual([]);
  });
});

describe('slack', () => {
  it('finds bot tokens and webhook URLs', () => {
    expect(found(`SLACK_BOT_TOKEN=${f.slackBot}`)).toEqual([{ rule: 'slack-token', secret: f.slackBot }]);
    expect(found(`curl -X POST https://hooks.slack.com/services/${f.slackWebhookPath} -d '{}'`)).toEqual([
      { rule: 'slack-webhook', secret: f.slackWebhookPath },
    ]);
  });
  it('ignores placeholders', () => {
    expect(found('SLACK_BOT_TOKEN=xoxb-your-token-here')).toEqual([]);
    expect(found('https://hooks.slack.com/services/XXX/YYY/ZZZ')).toEqual([]);
  });
});

describe('google-api-key', () => {
  it('finds AIza keys', () => {
    expect(found(`const key = "${f.google}";`)).toEqual([{ rule: 'google-api-key', secret: f.google }]);
  });
  it('ignores placeholders and short strings', () => {
    expect(found('AIza' + 'x'.repeat(35))).toEqual([]);
    expect(found('AIzaSyExample')).toEqual([]);
  });
});

describe('stripe-key', () => {
  it('finds secret keys', () => {
    expect(found(`STRIPE_SECRET_KEY=${f.stripe}`)).toEqual([{ rule: 'stripe-key', secret: f.stripe }]);
    expect(rules('whsec_' + r('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 32))).toEqual(['stripe-key']);
  });
  it('ignores publishable keys and placeholders', () => {
    expect(found(`pk_live_${f.stripe.slice(8)}`)).toEqual([]);
    expect(found('sk_test_' + 'x'.repeat(24))).toEqual([]);
  });
});

describe('private-key', () => {
  it('finds PEM blocks, escaped blocks, Read output and truncated blocks, with one fingerprintable body', () => {
    const body = f.pemBody.replace(/\n/g, '');
    expect(found(f.pem)).toEqual([{ rule: 'private-key', secret: body }]);
    // A .env value or JSON string: literal \n escapes.
    expect(found(`PRIVATE_KEY="${f.pem.replace(/\n/g, '\\n')}"`)).toEqual([{ rule: 'private-key', secret: body }]);
    // The Read tool numbers lines.
    const numbered = f.pem
      .split('\n')
      .map((l, i) => `${String(i + 1).padStart(6)}→${l}`)
      .join('\n');
    expect(found(numbered)).toEqual([{ rule: 'private-key', secret: body }]);
    // `head -5 id_rsa`: no END marker is still a leak.
    const head = f.pem.split('\n').slice(0, 5).join('\n');
    expect(rules(head)).toEqual(['private-key']);
    expect(rules(f.pem.replace(/RSA /g, 'OPENSSH '))).toEqual(['private-key']);
    expect(rules(f.pem.replace(/RSA PRIVATE KEY-----/g, 'PGP PRIVATE KEY BLOCK-----'))).toEqual(['private-key']);
  });
  it('ignores public keys, placeholders and prose about key headers', () => {
    expect(found(f.pem.replace(/RSA PRIVATE/g, 'PUBLIC'))).toEqual([]);
    expect(found('-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----')).toEqual([]);
    expect(found('-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n<your key here>\n-----END RSA PRIVATE KEY-----')).toEqual([]);
    expect(
      found(
        'The file starts with -----BEGIN OPENSSH PRIVATE KEY----- and then the base64 body follows and ends with the matching END line so you should never share it with anyone at all',
      ),
    ).toEqual([]);
  });
});

describe('jwt', () => {
  it('finds signed tokens', () => {
    expect(found(`Authorization: Bearer ${f.jwt}`)).toEqual([{ rule: 'jwt', secret: f.jwt }]);
  });
  it('ignores the jwt.io sample, unsigned and partial tokens', () => {
    const sample =
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
    expect(found(sample)).toEqual([]);
    const [h, p] = f.jwt.split('.');
    expect(found(`${h}.${p}.`)).toEqual([]);
    expect(found(h)).toEqual([]);
  });
});

describe('generic-secret', () => {
  it('finds high-entropy password/secret/token assignments', () => {
    expect(found(`DB_PASSWORD=${f.password}`)).toEqual([{ rule: 'generic-secret', secret: f.password }]);
    expect(rules(`password: "${f.password}"`)).toEqual(['generic-secret']);
    expect(rules(`{"client_secret":"${r('0123456789abcdef', 32)}"}`)).toEqual(['generic-secret']);
    expect(rules(`api_key = '${f.password}'`)).toEqual(['generic-secret']);
    expect(rules(`SECRET_KEY=${r('0123456789abcdef', 48)}`)).toEqual(['generic-secret']);
    expect(rules(`mysql -u root --password=${f.password} db`)).toEqual(['generic-secret']);
  });
  it('ignores low-entropy values, references, identifiers, types and words', () => {
    for (const text of [
      'password=changeme',
      'password=${PASSWORD}',
      'password=$DB_PASSWORD',
      'PASSWORD=%DB_PASS%',
      'password: process.env.DB_PASSWORD',
      'password = self.password',
      'password = getPassword()',
      'password: string;',
      'token: Optional[str] = None',
      'token: Authentication',
      'secret_key = MY_APP_SECRET_KEY',
      'max_tokens: 4096',
      'max_tokens=128000',
      '"password": "hunter2"',
      'if (password === confirmPassword) {',
      'password: your_password_here',
      'api_key=<YOUR_API_KEY>',
      'token: ********',
      'pwd: /home/user/project',
      'secret: https://vault.internal/v1/kv/app',
      'password_hash = "$2b$12$KIXQJZ8Y2y3rZ9sH1pJm0eYhY3N9q2y8m5p0sK3r1l2Yk5mQ8zZ6"',
    ]) {
      expect(found(text), text).toEqual([]);
    }
  });
  it('gives way to a specific rule on the same span', () => {
    expect(rules(`GITHUB_TOKEN=${f.ghp}`)).toEqual(['github-token']);
    expect(rules(`OPENAI_API_KEY=${f.openaiProj}`)).toEqual(['openai-api-key']);
    expect(rules(`token=${f.jwt}`)).toEqual(['jwt']);
  });
});

describe('url-credentials', () => {
  it('finds passwords in URLs', () => {
    expect(found(`DATABASE_URL=postgres://app:${f.dbPassword}@db.internal:5432/app`)).toEqual([
      { rule: 'url-credentials', secret: f.dbPassword },
    ]);
  });
  it('ignores placeholders, references and ssh remotes', () => {
    expect(found('postgres://postgres:postgres@localhost:5432/db')).toEqual([]);
    expect(found('https://user:${GITHUB_TOKEN}@github.com/o/r.git')).toEqual([]);
    expect(found('mysql://user:password@localhost/db')).toEqual([]);
    expect(found('git@github.com:owner/repo.git')).toEqual([]);
  });
});

describe('bearer-token', () => {
  it('finds opaque bearer tokens', () => {
    expect(found(`curl -H "Authorization: Bearer ${f.bearer}" https://api`)).toEqual([{ rule: 'bearer-token', secret: f.bearer }]);
  });
  it('ignores references and placeholders', () => {
    expect(found('curl -H "Authorization: Bearer $API_TOKEN"')).toEqual([]);
    expect(found('Authorization: Bearer <token>')).toEqual([]);
    expect(found('Authorization: Bearer YOUR_ACCESS_TOKEN')).toEqual([]);
  });
});

describe('gitlab, npm, huggingface', () => {
  it('finds tokens', () => {
    expect(rules(`GITLAB_TOKEN=${f.gitlab}`)).toEqual(['gitlab-token']);
    expect(rules(`//registry.npmjs.org/:_authToken=${f.npm}`)).toEqual(['npm-token']);
    expect(rules(`HF_TOKEN=${f.hf}`)).toEqual(['huggingface-token']);
  });
  it('ignores identifiers that look alike', () => {
    expect(found('hf_' + 'transformerscachedirectorysettings')).toEqual([]);
    expect(found('npm_config_registry npm_package_version')).toEqual([]);
  });
});

describe('identifiers in transcripts', () => {
  it('does not flag UUIDs, message/tool ids or request ids', () => {
    const uuid = '3f2b8c1e-9d4a-4e7b-8c2f-1a5d6e7f8a9b';
    for (const text of [
      `"sessionId": "${uuid}"`,
      `uuid: ${uuid}\nparentUuid: ${uuid}`,
      'tool_use_id: toolu_01LjFNEf5XrVHXXTePS4tRFR',
      'id: msg_01Vb73KmJ44YzFjtmgaVXnZ6\nrequestId: req_011CPzYuqyBehXVMovbsLhUW',
      'leafUuid: 32a76d26-9a71-40c3-8505-14cf7fede521',
    ]) {
      expect(found(text), text).toEqual([]);
    }
  });
});
