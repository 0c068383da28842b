// The user-space NFSv3 client: see client.ts; removeTree is in ../dir.
export { type Nfs3Options, type Nfs3Target, Nfs3Client, Nfs3Error, mountPortOf } from './client.ts';
export { Nfs3RpcError } from './errors.ts';
