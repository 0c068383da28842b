// Helpers the NFS client tests share: the error a promise rejects with, and
// whether a path exists on the server's disk.
import { expect } from 'chai';
import { stat } from 'node:fs/promises';

/** The Error the promise rejects with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  const err = await promise.then(
    () => expect.fail('resolved'),
    (e: unknown) => e,
  );
  expect(err).to.be.instanceOf(Error);
  return err as Error;
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
