import { describe, expect, it } from 'vitest';
import { isHighEntropySecret, maskSensitive } from '../../../../streams/clean/mask.ts';

describe('maskSensitive: e-mail addresses', () => {
  it.each([
    ['write to jane.doe@example.com today', 'write to [EMAIL] today'],
    ['<john.smith+news@mail.co.uk>', '<[EMAIL]>'],
    ['UPPER_CASE-99@Sub.Domain.ORG.', '[EMAIL].'],
    ['contact: jane [at] example [dot] com', 'contact: [EMAIL]'],
  ])('masks %j', (input, expected) => {
    expect(maskSensitive(input)).toBe(expected);
  });

  it.each([
    'git@github.com:owner/repo.git',
    'icon@2x.png and logo@3x.webp',
    'follow @alice@mastodon.social',
    'npm i lodash@4.17.21',
    'user@localhost',
  ])('leaves %j alone', (input) => {
    expect(maskSensitive(input)).toBe(input);
  });
});

describe('maskSensitive: phone numbers', () => {
  it.each([
    ['call +1 415 555 2671 now', 'call [PHONE] now'],
    ['+44 20 7946 0958', '[PHONE]'],
    ['+49 (0)30 12345678', '[PHONE]'],
    ['+14155552671', '[PHONE]'],
    ['(415) 555-2671', '[PHONE]'],
    ['415-555-2671 or 415.555.2671', '[PHONE] or [PHONE]'],
    ['1-800-555-0199', '[PHONE]'],
    ['UK 020 7946 0958', 'UK [PHONE]'],
    ['FR 01 23 45 67 89', 'FR [PHONE]'],
    ['DE 030/12345678', 'DE [PHONE]'],
    ['JP 090-1234-5678', 'JP [PHONE]'],
    ['Tel: 5551234', 'Tel: [PHONE]'],
    ['call me at 07700900123', 'call me at [PHONE]'],
  ])('masks %j', (input, expected) => {
    expect(maskSensitive(input)).toBe(expected);
  });

  it.each([
    'Founded in 1998, revenue grew 12% by 2024.',
    'Version 2.10.3 (build 20240115) fixes #1234.',
    'Price: $1,299.99 or €49.90; 3.14159265358979',
    'Dates: 2024-01-15, 15/01/2024, 01.02.2024 at 10:30',
    'Hosts 192.168.0.1 and 10.0.0.254:8080',
    'ISBN 978-3-16-148410-0, order 123-45-6789',
    'Population 331 449 281; growth +15% to +1 000 000 users',
    'chunkTokens=256 overlap=32 port 8080',
    'sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b',
  ])('leaves ordinary numbers alone: %j', (input) => {
    expect(maskSensitive(input)).toBe(input);
  });
});

describe('maskSensitive: secrets', () => {
  const ghp = `ghp_${'a1B2c3D4e5'.repeat(4)}`;
  it.each([
    ['OpenAI', 'key sk-proj-abc123DEF456ghi789JKL012mno345pqr', 'key [SECRET]'],
    ['OpenAI legacy', 'sk-AbCdEf1234567890AbCdEf1234567890AbCdEf12', '[SECRET]'],
    ['Anthropic', 'sk-ant-api03-abcDEF123456ghiJKL789012mnoPQR', '[SECRET]'],
    ['AWS access key id', 'aws AKIAIOSFODNN7EXAMPLE here', 'aws [SECRET] here'],
    ['GitHub classic', `token ${ghp}`, 'token [SECRET]'],
    ['GitHub fine-grained', 'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123', '[SECRET]'],
    ['Slack', 'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx', '[SECRET]'],
    ['Google', 'AIzaSyA-1234567890abcdefghijklmnopqrstu', '[SECRET]'],
    ['Stripe', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc', '[SECRET]'],
    ['JWT', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U', '[SECRET]'],
    ['env assignment', 'OPENAI_API_KEY=abcd1234efgh5678', 'OPENAI_API_KEY=[SECRET]'],
    ['YAML', 'api_key: 9f86d081884c7d659a2feaa0c55ad015', 'api_key: [SECRET]'],
    ['JSON', '{"client_secret": "Zq8-xY7_wV6uT5sR4"}', '{"client_secret": "[SECRET]"}'],
    ['camelCase', "githubToken = 'Abc123Def456Ghi789'", "githubToken = '[SECRET]'"],
    ['password', 'password: hunter22', 'password: [SECRET]'],
    ['password with spaces', '"password": "correct horse battery staple"', '"password": "[SECRET]"'],
    ['Bearer', 'Authorization: Bearer abc.def.ghi123456789xyz', 'Authorization: Bearer [SECRET]'],
    ['URL credentials', 'postgres://admin:s3cr3t@db.example.com:5432/app', 'postgres://admin:[SECRET]@db.example.com:5432/app'],
    ['high-entropy token', 'value Zx9Qw7Er5Ty3Ui1Op2As4Df6Gh8Jk0L end', 'value [SECRET] end'],
  ])('%s', (_kind, input, expected) => {
    expect(maskSensitive(input)).toBe(expected);
  });

  it('a key: value pair whose value is no secret does not hide a cue inside its value', () => {
    expect(maskSensitive('token: "password": "correct horse battery"')).toBe('token: "password": "[SECRET]"');
    expect(maskSensitive('token: password: hunter22')).toBe('token: password: [SECRET]');
    expect(maskSensitive('api_key = "<your-api-key>" and password: hunter22')).toBe('api_key = "<your-api-key>" and password: [SECRET]');
  });

  it('masks a whole PEM private key block and keeps what follows', () => {
    const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7bq9\nQ2hG0x+Zr/9==\n-----END RSA PRIVATE KEY-----';
    expect(maskSensitive(`key:\n${pem}\nThe end.`)).toBe('key:\n[SECRET]\nThe end.');
    expect(maskSensitive('-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAABG5vbmU=')).toBe('[SECRET]');
  });

  it.each([
    'max_tokens: 256',
    'token: string',
    'password: ********',
    'apiKey: config.apiKey',
    'const token = process.env.GITHUB_TOKEN',
    'OPENAI_API_KEY=${OPENAI_API_KEY}',
    'api_key = "<your-api-key>"',
    'tokenizer: cl100k_base',
    'The secret: patience.',
    'Use a bearer token in production.',
    'task-scheduler-for-the-whole-team-2024',
    'AbstractSingletonProxyFactoryBean2',
    'src/components/ButtonGroup2/index.tsx',
    'commit da39a3ee5e6b4b0d3255bfef95601890afd80709',
    'uuid 550e8400-e29b-41d4-a716-446655440000',
  ])('does not mask %j', (input) => {
    expect(maskSensitive(input)).toBe(input);
  });
});

describe('isHighEntropySecret', () => {
  it('accepts random base62/base64 tokens and rejects identifiers and hex digests', () => {
    expect(isHighEntropySecret('q3Vz8KpL2mXw9RtY7bN4cJ6dF1gH5sA0')).toBe(true);
    expect(isHighEntropySecret('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')).toBe(true);
    expect(isHighEntropySecret('getUserAccountBalanceForCustomer2024')).toBe(false);
    expect(isHighEntropySecret('this_is_a_very_long_snake_case_name_2')).toBe(false);
    expect(isHighEntropySecret('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')).toBe(false);
  });
});

describe('maskSensitive: robustness', () => {
  it('stays linear on adversarial input', () => {
    const nasty = [
      '+1'.repeat(20_000),
      `${'a'.repeat(50_000)}@`,
      `${'0 '.repeat(20_000)}`,
      `api_key${' '.repeat(20_000)}`,
      `-----BEGIN RSA PRIVATE KEY-----${'A'.repeat(50_000)}`,
      `${'x.'.repeat(20_000)}@example.com`,
      `${'Ab1'.repeat(30_000)}`,
    ].join('\n');
    const t0 = performance.now();
    maskSensitive(nasty);
    expect(performance.now() - t0).toBeLessThan(1500);
  });

  it('is idempotent', () => {
    const text = 'Mail jane@example.com, call +44 20 7946 0958, key AKIAIOSFODNN7EXAMPLE.';
    expect(maskSensitive(maskSensitive(text))).toBe(maskSensitive(text));
  });
});

describe('maskSensitive: context-dependent cases', () => {
  it('masks signed-URL signatures but keeps the rest of the query', () => {
    expect(maskSensitive('https://b.s3.amazonaws.com/k?X-Amz-Signature=3f9aB7c2D1e0F4a5b6C7&X-Amz-Expires=300')).toBe('https://b.s3.amazonaws.com/k?X-Amz-Signature=[SECRET]&X-Amz-Expires=300');
  });

  it('does not treat prose after "Authorization:" as a credential', () => {
    expect(maskSensitive('Authorization: required for every endpoint')).toBe('Authorization: required for every endpoint');
    expect(maskSensitive('Authorization: Basic dXNlcjpwYXNzd29yZDEyMw==')).toBe('Authorization: Basic [SECRET]');
  });
});
