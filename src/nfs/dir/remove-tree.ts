// Recursive removal of one directory over NFS, for deleting a volume's
// directory: only the directory whose handle the caller recorded, never a
// parent, never through a symlink, never into another file system; in small
// bounded steps so a huge tree is removed across several calls.
//
// How it walks: it lists the directory from cookie 0, removes each non-
// directory entry and descends into the first subdirectory; a directory whose
// listing comes back empty is removed from its parent. Listing from cookie 0
// each time needs no cookie to survive removals, and every entry seen is
// removed or descended into, so each listing makes progress. Nothing is kept
// between calls: the next call starts from the top again, and what was
// removed before is simply gone. Another remover working on the same tree is
// tolerated: an entry or directory already gone (NOENT, STALE) is skipped, a
// directory written into after it was emptied (NOTEMPTY) is listed again.
import { type Attrs, type FileHandle, type Found, type ReaddirPage, ZERO_VERIFIER } from './client.ts';
import { NFS_STATUS, hasStatus } from './errors.ts';
import type { Name } from './names.ts';

/** The client operations removeTree needs (the NFSv3 and NFSv4 clients have them). */
export interface TreeClient {
  lookup(dir: FileHandle, name: Name): Promise<Found | undefined>;
  readdir(dir: FileHandle, cookie: bigint, verifier: Buffer, maxBytes: number): Promise<ReaddirPage>;
  /** `type`: what the caller saw there; NFSv3 picks REMOVE or RMDIR by it (v4's REMOVE takes both). */
  remove(dir: FileHandle, name: Name, type?: Attrs['type']): Promise<'removed' | 'absent'>;
}

export interface TreeBudget {
  /** Calls to the server this invocation may make. */
  maxOps: number;
  /** Milliseconds since the epoch after which no new call starts. */
  deadline: number;
}

export interface TreeProgress {
  /** True when the directory is gone (removed now, or absent already). */
  done: boolean;
  /** Entries removed by this invocation, the directory itself included. */
  removed: number;
  /** True when the directory no longer exists. */
  gone: boolean;
}

export type TreeRefusal = 'HandleMismatch' | 'NotDirectory' | 'OtherFileSystem' | 'NoHandle';

/** removeTree would not act: nothing was removed where it refused. Paths in messages are JSON-quoted (names may hold any character). */
export class TreeRefusedError extends Error {
  override name = 'TreeRefusedError';
  readonly code: TreeRefusal;
  readonly op = 'removeTree';

  constructor(code: TreeRefusal, message: string) {
    super(message);
    this.code = code;
  }
}

/** A page of READDIR asked for at a time: a few dozen entries with their attributes. */
export const TREE_PAGE_BYTES = 32 * 1024;
/** Deeper than this is refused rather than held in memory (PATH_MAX / 2). */
export const MAX_TREE_DEPTH = 2048;

interface Frame {
  fh: FileHandle;
  parent: FileHandle;
  /** As the server is sent it: the listed bytes where they are not UTF-8. */
  name: Name;
  path: string;
}

function checkBudget(budget: TreeBudget): void {
  if (!Number.isInteger(budget.maxOps) || budget.maxOps < 1) {
    throw new RangeError(`budget.maxOps must be a positive integer, not ${String(budget.maxOps)}`);
  }
  if (!Number.isFinite(budget.deadline))
    throw new RangeError(`budget.deadline must be a time in ms, not ${String(budget.deadline)}`);
}

/**
 * Removes directory `name` in `parent` and everything beneath it, only if its
 * handle equals `expected`; see the top of this file. Symlinks are removed as
 * entries. A subdirectory on another file system (its fsid differs) is
 * refused: TreeRefusedError, and nothing below it is touched.
 */
export async function removeTree(
  client: TreeClient,
  parent: FileHandle,
  name: string,
  expected: FileHandle,
  budget: TreeBudget,
): Promise<TreeProgress> {
  checkBudget(budget);
  let ops = 0;
  let removed = 0;
  const spend = (): boolean => {
    if (ops >= budget.maxOps || Date.now() >= budget.deadline) return false;
    ops++;
    return true;
  };
  const unfinished = (): TreeProgress => ({ done: false, removed, gone: false });

  if (!spend()) return unfinished();
  const top = await client.lookup(parent, name);
  if (top === undefined) return { done: true, removed, gone: true };
  if (!top.fh.equals(expected)) {
    throw new TreeRefusedError(
      'HandleMismatch',
      `${JSON.stringify(name)} is not the directory recorded (its file handle differs); nothing removed`,
    );
  }
  if (top.attrs.type !== 'dir') {
    throw new TreeRefusedError(
      'NotDirectory',
      `${JSON.stringify(name)} is a ${top.attrs.type}, not a directory; nothing removed`,
    );
  }
  const fsid = top.attrs.fsid;
  const stack: Frame[] = [{ fh: top.fh, parent, name, path: name }];

  while (stack.length > 0) {
    const frame = stack.at(-1) as Frame;
    if (!spend()) return unfinished();
    let page: ReaddirPage;
    try {
      page = await client.readdir(frame.fh, 0n, ZERO_VERIFIER, TREE_PAGE_BYTES);
    } catch (err) {
      // A subdirectory removed by someone else since it was listed: already
      // gone is fine. Not the top one: its lookup just matched the recorded
      // handle, so STALE there is the server's cache, and the caller retries.
      if (stack.length === 1 || !hasStatus(err, NFS_STATUS.STALE)) throw err;
      stack.pop();
      continue;
    }
    if (page.entries.length === 0) {
      if (!page.eof)
        throw new Error(
          `the server listed no entry of ${JSON.stringify(frame.path)} without saying it was the end`,
        );
      if (!spend()) return unfinished();
      try {
        if ((await client.remove(frame.parent, frame.name, 'dir')) === 'removed') removed++;
      } catch (err) {
        // Something was written into it meanwhile: list it again.
        if (hasStatus(err, NFS_STATUS.NOTEMPTY)) continue;
        throw err;
      }
      stack.pop();
      continue;
    }
    for (const entry of page.entries) {
      const path = `${frame.path}/${entry.name}`;
      if (entry.attrs.type === 'dir') {
        if (entry.attrs.fsid !== fsid) {
          throw new TreeRefusedError(
            'OtherFileSystem',
            `${JSON.stringify(path)} is on another file system (fsid ${entry.attrs.fsid}, not ${fsid}); nothing removed there`,
          );
        }
        if (entry.fh === undefined)
          throw new TreeRefusedError(
            'NoHandle',
            `the server listed ${JSON.stringify(path)} without its file handle`,
          );
        if (stack.length >= MAX_TREE_DEPTH) {
          throw new RangeError(
            `${JSON.stringify(path)} is more than ${String(MAX_TREE_DEPTH)} directories deep`,
          );
        }
        stack.push({ fh: entry.fh, parent: frame.fh, name: entry.raw ?? entry.name, path });
        break; // descend now; this directory is listed again when the child is gone
      }
      if (!spend()) return unfinished();
      if ((await client.remove(frame.fh, entry.raw ?? entry.name, entry.attrs.type)) === 'removed') removed++;
    }
  }
  return { done: true, removed, gone: true };
}
