// API errors as typed outcomes, so controllers branch on meaning, not codes.
import { ApiException } from '@kubernetes/client-node';

export type ApiFailure =
  'conflict' | 'notFound' | 'gone' | 'invalid' | 'alreadyExists' | 'forbidden' | 'other';

export function apiStatus(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const e = err as { code?: unknown; statusCode?: unknown } | undefined;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return typeof e?.code === 'number' ? e.code : undefined;
}

export function apiFailure(err: unknown): ApiFailure {
  switch (apiStatus(err)) {
    case 404:
      return 'notFound';
    case 409: {
      // 409 is both "the object changed" and "it already exists"; the reason tells them apart.
      const body = (err as { body?: unknown }).body;
      const text = typeof body === 'string' ? body : JSON.stringify(body ?? '');
      return text.includes('AlreadyExists') ? 'alreadyExists' : 'conflict';
    }
    case 410:
      return 'gone';
    case 422:
      return 'invalid';
    case 403:
      return 'forbidden';
    default:
      return 'other';
  }
}

export const isNotFound = (err: unknown): boolean => apiFailure(err) === 'notFound';
export const isConflict = (err: unknown): boolean => apiFailure(err) === 'conflict';

/** The request's result, or undefined when the object does not exist. */
export async function unlessNotFound<T>(request: Promise<T>): Promise<T | undefined> {
  try {
    return await request;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * A delete with a UID precondition, done unless the object is gone already or
 * is another object of that name now (the precondition failed): either way
 * nothing of the one meant is left to delete.
 */
export async function deleteUnlessGone(request: Promise<unknown>): Promise<void> {
  try {
    await request;
  } catch (err) {
    if (!isNotFound(err) && !isConflict(err)) throw err;
  }
}

/** A short description for logs and events: the API's own message when there is one. */
export function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      return body.slice(0, 300);
    }
  }
  if (body && typeof body === 'object' && 'message' in body && typeof body.message === 'string')
    return body.message;
  return err instanceof Error ? err.message : String(err);
}
