// Command line of pv-lifecycle-operator. The controllers (binding,
// reclaim, NfsExport) are composed here as they land; this version knows its
// name, version and usage.
import { parseArgs } from 'node:util';

import { packageInfo } from './version.ts';

const usage = `Usage: pv-lifecycle-operator [options]

A Kubernetes operator that owns the whole life of PersistentVolumes.

Options:
  -h, --help       show this help
      --version    print the version
`;

interface Output {
  write(text: string): unknown;
}

export function main(argv: string[], out: Output = process.stdout, err: Output = process.stderr): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (e) {
    err.write(`${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (parsed.values.version) {
    out.write(`${packageInfo.name} ${packageInfo.version}\n`);
    return 0;
  }
  out.write(usage);
  return parsed.values.help ? 0 : 2;
}
