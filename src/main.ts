#!/usr/bin/env node
// Entry point of the pv-lifecycle-operator command.
import { main } from './cli.ts';

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Everything is stopped by now, and log lines are written synchronously to
// stderr (a file, pipe or terminal). Should a stray handle still hold the
// event loop (a socket into a cut network, say), do not hang on it: that time
// would come out of the pod's termination grace period. (The timer itself
// does not keep the process alive.)
setTimeout(() => process.exit(code), 250).unref();
