#!/usr/bin/env node
// kubectl-pvl: kubectl runs it as `kubectl pvl ...` once it is on PATH.
import { createInterface } from 'node:readline/promises';

import { run } from './run.ts';

const ask = process.stdin.isTTY
  ? async (question: string): Promise<string> => {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await rl.question(question);
      } finally {
        rl.close();
      }
    }
  : undefined;

process.exitCode = await run(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  ask,
  env: process.env,
  isTTY: process.stdout.isTTY,
});
