#!/usr/bin/env node
// Entry point of the pv-lifecycle-operator command. The controllers (binding,
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

export function main(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (parsed.values.version) {
    process.stdout.write(`${packageInfo.name} ${packageInfo.version}\n`);
    return 0;
  }
  process.stdout.write(usage);
  return parsed.values.help ? 0 : 2;
}

process.exitCode = main(process.argv.slice(2));
