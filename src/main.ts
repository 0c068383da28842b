#!/usr/bin/env node
// Entry point of the pv-lifecycle-operator command.
import { main } from './cli.ts';

process.exitCode = main(process.argv.slice(2));
