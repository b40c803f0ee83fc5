import { findTributaryError, type TributaryError } from '../../ports/errors.ts';

/** The TributaryError a call fails with; throws when it succeeds or fails with anything else. */
export async function failure(p: Promise<unknown>): Promise<TributaryError> {
  try {
    await p;
  } catch (e) {
    const te = findTributaryError(e);
    if (!te) throw new Error(`expected a TributaryError, got ${String(e)}`, { cause: e });
    return te;
  }
  throw new Error('expected the call to fail');
}
