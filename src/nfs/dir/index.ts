// What the NFSv3 and NFSv4 directory clients share: the DirClient interface,
// its errors, name checks and removeTree.
export * from './client.ts';
export * from './errors.ts';
export { type Name, checkName, displayName, nameProblem } from './names.ts';
export {
  type TreeBudget,
  type TreeClient,
  type TreeProgress,
  type TreeRefusal,
  TreeRefusedError,
  removeTree,
} from './remove-tree.ts';
