#!/usr/bin/env node
// Entry point of the pv-lifecycle-operator command.
import { main } from './cli.ts';

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Everything is stopped by now; should a stray handle still hold the event
// loop, do not hang on it (the timer itself does not keep the process alive).
setTimeout(() => process.exit(code), 2000).unref();
