// The user-space NFSv4.0 client: see client.ts; removeTree is in ../dir.
export {
  type Attrs,
  type FileHandle,
  type Found,
  type Nfs4Options,
  type Nfs4Target,
  type ReaddirEntry,
  type ReaddirPage,
  MAX_PATH_COMPONENTS,
  Nfs4Client,
  Nfs4Error,
  Nfs4RpcError,
  ZERO_VERIFIER,
} from './client.ts';
