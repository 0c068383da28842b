// NFSv4.0 numbers (RFC 7530, XDR in RFC 7531): the operations, statuses,
// file types and attributes this client uses.

export const NFS4_VERSION = 4;
export const NFSPROC4_COMPOUND = 1;
/** NFS4_FHSIZE: the longest file handle a server may send. */
export const NFS4_FHSIZE = 128;
export { MAX_NAME_BYTES } from '../dir/names.ts';
/** NFS4_VERIFIER_SIZE: the READDIR cookie verifier. */
export const VERIFIER_BYTES = 8;

export const OP = {
  CREATE: 6,
  GETATTR: 9,
  GETFH: 10,
  LOOKUP: 15,
  PUTFH: 22,
  PUTROOTFH: 24,
  READDIR: 26,
  REMOVE: 28,
  RENAME: 29,
  SAVEFH: 32,
  SETATTR: 34,
  ILLEGAL: 10044,
} as const;
export type OpName = keyof typeof OP;
export const OP_NAMES = new Map<number, OpName>(
  Object.entries(OP).map(([name, num]) => [num, name as OpName]),
);

/** nfs_ftype4. */
export const NF4REG = 1;
export const NF4DIR = 2;
export const NF4LNK = 5;

/** Attribute numbers (RFC 7530 §5.8). */
export const FATTR4 = {
  TYPE: 1,
  FSID: 8,
  RDATTR_ERROR: 11,
  FILEHANDLE: 19,
  FILEID: 20,
  MODE: 33,
  OWNER: 36,
  OWNER_GROUP: 37,
  SPACE_AVAIL: 42,
  SPACE_FREE: 43,
  SPACE_TOTAL: 44,
} as const;

export const NFS4_OK = 0;

/** nfsstat4 values and their names (RFC 7530 §13.1). */
export const STATUS_NAMES = new Map<number, string>([
  [0, 'NFS4_OK'],
  [1, 'NFS4ERR_PERM'],
  [2, 'NFS4ERR_NOENT'],
  [5, 'NFS4ERR_IO'],
  [6, 'NFS4ERR_NXIO'],
  [13, 'NFS4ERR_ACCESS'],
  [17, 'NFS4ERR_EXIST'],
  [18, 'NFS4ERR_XDEV'],
  [20, 'NFS4ERR_NOTDIR'],
  [21, 'NFS4ERR_ISDIR'],
  [22, 'NFS4ERR_INVAL'],
  [27, 'NFS4ERR_FBIG'],
  [28, 'NFS4ERR_NOSPC'],
  [30, 'NFS4ERR_ROFS'],
  [31, 'NFS4ERR_MLINK'],
  [63, 'NFS4ERR_NAMETOOLONG'],
  [66, 'NFS4ERR_NOTEMPTY'],
  [69, 'NFS4ERR_DQUOT'],
  [70, 'NFS4ERR_STALE'],
  [10001, 'NFS4ERR_BADHANDLE'],
  [10003, 'NFS4ERR_BAD_COOKIE'],
  [10004, 'NFS4ERR_NOTSUPP'],
  [10005, 'NFS4ERR_TOOSMALL'],
  [10006, 'NFS4ERR_SERVERFAULT'],
  [10007, 'NFS4ERR_BADTYPE'],
  [10008, 'NFS4ERR_DELAY'],
  [10009, 'NFS4ERR_SAME'],
  [10010, 'NFS4ERR_DENIED'],
  [10011, 'NFS4ERR_EXPIRED'],
  [10012, 'NFS4ERR_LOCKED'],
  [10013, 'NFS4ERR_GRACE'],
  [10014, 'NFS4ERR_FHEXPIRED'],
  [10015, 'NFS4ERR_SHARE_DENIED'],
  [10016, 'NFS4ERR_WRONGSEC'],
  [10017, 'NFS4ERR_CLID_INUSE'],
  [10018, 'NFS4ERR_RESOURCE'],
  [10019, 'NFS4ERR_MOVED'],
  [10020, 'NFS4ERR_NOFILEHANDLE'],
  [10021, 'NFS4ERR_MINOR_VERS_MISMATCH'],
  [10022, 'NFS4ERR_STALE_CLIENTID'],
  [10023, 'NFS4ERR_STALE_STATEID'],
  [10024, 'NFS4ERR_OLD_STATEID'],
  [10025, 'NFS4ERR_BAD_STATEID'],
  [10026, 'NFS4ERR_BAD_SEQID'],
  [10027, 'NFS4ERR_NOT_SAME'],
  [10028, 'NFS4ERR_LOCK_RANGE'],
  [10029, 'NFS4ERR_SYMLINK'],
  [10030, 'NFS4ERR_RESTOREFH'],
  [10031, 'NFS4ERR_LEASE_MOVED'],
  [10032, 'NFS4ERR_ATTRNOTSUPP'],
  [10033, 'NFS4ERR_NO_GRACE'],
  [10034, 'NFS4ERR_RECLAIM_BAD'],
  [10035, 'NFS4ERR_RECLAIM_CONFLICT'],
  [10036, 'NFS4ERR_BADXDR'],
  [10037, 'NFS4ERR_LOCKS_HELD'],
  [10038, 'NFS4ERR_OPENMODE'],
  [10039, 'NFS4ERR_BADOWNER'],
  [10040, 'NFS4ERR_BADCHAR'],
  [10041, 'NFS4ERR_BADNAME'],
  [10042, 'NFS4ERR_BAD_RANGE'],
  [10043, 'NFS4ERR_LOCK_NOTSUPP'],
  [10044, 'NFS4ERR_OP_ILLEGAL'],
  [10045, 'NFS4ERR_DEADLOCK'],
  [10046, 'NFS4ERR_FILE_OPEN'],
  [10047, 'NFS4ERR_ADMIN_REVOKED'],
  [10048, 'NFS4ERR_CB_PATH_DOWN'],
]);

/** The name of a status; one the table lacks is named by its number. */
export function statusName(status: number): string {
  return STATUS_NAMES.get(status) ?? `NFS4ERR_UNKNOWN_${String(status)}`;
}
