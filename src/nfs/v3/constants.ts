// NFSv3 and MOUNT v3 numbers (RFC 1813): the procedures, statuses and file
// types this client uses.

export const NFS3_VERSION = 3;
export const MOUNT3_VERSION = 3;
export const PMAP_VERSION = 2;
/** NFS3_FHSIZE: the longest file handle a server may send. */
export const NFS3_FHSIZE = 64;
/** NFS3_COOKIEVERFSIZE. */
export const COOKIEVERF_BYTES = 8;
/** Flavors a MNT reply may list; real servers list one to a few. */
export const MAX_AUTH_FLAVORS = 32;

/** NFS program procedures (RFC 1813 §3.3). */
export const NFSPROC3 = {
  GETATTR: 1,
  SETATTR: 2,
  LOOKUP: 3,
  MKDIR: 9,
  REMOVE: 12,
  RMDIR: 13,
  RENAME: 14,
  READDIRPLUS: 17,
  FSSTAT: 18,
} as const;
export type Proc3 = keyof typeof NFSPROC3;

/** MOUNT program procedures (RFC 1813 Appendix I §5.2). */
export const MOUNTPROC3_MNT = 1;
export const MOUNTPROC3_UMNT = 3;

/** ftype3. */
export const NF3REG = 1;
export const NF3DIR = 2;
export const NF3LNK = 5;

export const NFS3_OK = 0;

/** nfsstat3 values and their names (RFC 1813 §2.6). */
export const STATUS3_NAMES = new Map<number, string>([
  [0, 'NFS3_OK'],
  [1, 'NFS3ERR_PERM'],
  [2, 'NFS3ERR_NOENT'],
  [5, 'NFS3ERR_IO'],
  [6, 'NFS3ERR_NXIO'],
  [13, 'NFS3ERR_ACCES'],
  [17, 'NFS3ERR_EXIST'],
  [18, 'NFS3ERR_XDEV'],
  [19, 'NFS3ERR_NODEV'],
  [20, 'NFS3ERR_NOTDIR'],
  [21, 'NFS3ERR_ISDIR'],
  [22, 'NFS3ERR_INVAL'],
  [27, 'NFS3ERR_FBIG'],
  [28, 'NFS3ERR_NOSPC'],
  [30, 'NFS3ERR_ROFS'],
  [31, 'NFS3ERR_MLINK'],
  [63, 'NFS3ERR_NAMETOOLONG'],
  [66, 'NFS3ERR_NOTEMPTY'],
  [69, 'NFS3ERR_DQUOT'],
  [70, 'NFS3ERR_STALE'],
  [71, 'NFS3ERR_REMOTE'],
  [10001, 'NFS3ERR_BADHANDLE'],
  [10002, 'NFS3ERR_NOT_SYNC'],
  [10003, 'NFS3ERR_BAD_COOKIE'],
  [10004, 'NFS3ERR_NOTSUPP'],
  [10005, 'NFS3ERR_TOOSMALL'],
  [10006, 'NFS3ERR_SERVERFAULT'],
  [10007, 'NFS3ERR_BADTYPE'],
  [10008, 'NFS3ERR_JUKEBOX'],
]);

/** mountstat3 values and their names (RFC 1813 Appendix I §5.1.5). */
export const MOUNTSTAT3_NAMES = new Map<number, string>([
  [0, 'MNT3_OK'],
  [1, 'MNT3ERR_PERM'],
  [2, 'MNT3ERR_NOENT'],
  [5, 'MNT3ERR_IO'],
  [13, 'MNT3ERR_ACCES'],
  [20, 'MNT3ERR_NOTDIR'],
  [22, 'MNT3ERR_INVAL'],
  [63, 'MNT3ERR_NAMETOOLONG'],
  [10004, 'MNT3ERR_NOTSUPP'],
  [10006, 'MNT3ERR_SERVERFAULT'],
]);

/** The name of an nfsstat3; one the table lacks (a bogus status) is named by its number. */
export function status3Name(status: number): string {
  return STATUS3_NAMES.get(status) ?? `NFS3ERR_UNKNOWN_${String(status)}`;
}

export function mountstat3Name(status: number): string {
  return MOUNTSTAT3_NAMES.get(status) ?? `MNT3ERR_UNKNOWN_${String(status)}`;
}
