import { describe, expect, it } from 'vitest';
import { ErrorCodes, failureScope, toTributaryError, TributaryError, type ErrorCode } from '../../../ports/errors.ts';

describe('failure scope: one rule for "the batch failed" vs "this record failed"', () => {
  it('every code declares a scope; a dependency that is down concerns the batch, a bad input the record', () => {
    for (const [code, spec] of Object.entries(ErrorCodes)) expect(['batch', 'record'], code).toContain(spec.scope);
    const batch: ErrorCode[] = [
      'SCHEMA_REGISTRY_UNAVAILABLE', 'STORE_UNAVAILABLE', 'INDEX_UNAVAILABLE', 'EMBEDDER_UNAVAILABLE', 'EMBEDDER_RATE_LIMITED',
      'LLM_UNAVAILABLE', 'LLM_RATE_LIMITED', 'LOG_UNAVAILABLE', 'TIMEOUT', 'SHUTTING_DOWN', 'INVALID_CONFIG',
    ];
    const record: ErrorCode[] = ['MALFORMED_EVENT', 'SCHEMA_VIOLATION', 'OVERSIZE_RECORD', 'INVALID_INPUT', 'EMBEDDER_REJECTED', 'INDEX_REJECTED', 'LLM_REJECTED', 'INTERNAL'];
    for (const code of batch) expect(failureScope(new TributaryError(code, 'x')), code).toBe('batch');
    for (const code of record) expect(failureScope(new TributaryError(code, 'x')), code).toBe('record');
  });

  it('is read from the first Tributary error down the cause chain, and an error may override its code\'s scope', () => {
    const down = new TributaryError('INDEX_UNAVAILABLE', 'qdrant unreachable');
    expect(failureScope(new Error('embedding batch failed', { cause: down }))).toBe('batch');
    expect(failureScope(new TributaryError('EMBEDDER_REJECTED', '401', { scope: 'batch' }))).toBe('batch');
    // recognised by shape: an error of another copy of the module, without a scope, takes its code's
    expect(failureScope({ isTributaryError: true, code: 'STORE_UNAVAILABLE', message: 'x' })).toBe('batch');
  });

  it('an error that is no Tributary error is a record failure (a bug must not stall a partition), unless it says a dependency is down', () => {
    expect(failureScope(new TypeError('cannot read properties of undefined'))).toBe('record');
    expect(failureScope('a string')).toBe('record');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8081'), { code: 'ECONNREFUSED' });
    expect(failureScope(refused)).toBe('batch');
    expect(failureScope(new TypeError('fetch failed', { cause: refused }))).toBe('batch');
    expect(failureScope(Object.assign(new Error('database is locked'), { code: 'ERR_SQLITE_ERROR', errcode: 5 }))).toBe('batch');
    expect(failureScope(Object.assign(new Error('UNIQUE constraint failed'), { code: 'ERR_SQLITE_ERROR', errcode: 2067 }))).toBe('record');
    // wrapping keeps the scope
    expect(toTributaryError(refused)).toMatchObject({ code: 'INTERNAL', scope: 'batch' });
    expect(toTributaryError(new TypeError('x'))).toMatchObject({ code: 'INTERNAL', scope: 'record' });
  });
});
