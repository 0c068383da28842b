// The freezable proxy as a process of its own, so that a busy test process
// cannot slow the bytes it passes: `tcp-proxy-main.ts HOST PORT` prints
// "listening PORT", then freezes on SIGUSR1 and thaws on SIGUSR2, answering
// "frozen" or "thawed" once done; SIGTERM ends it.
import { FreezableProxy } from './tcp-proxy.ts';

const [host, port] = process.argv.slice(2);
if (!host || !port) {
  process.stderr.write('usage: tcp-proxy-main.ts HOST PORT\n');
  process.exit(2);
}
const proxy = await FreezableProxy.start({ host, port: Number(port) });
process.on('SIGUSR1', () => {
  proxy.freeze();
  process.stdout.write('frozen\n');
});
process.on('SIGUSR2', () => {
  proxy.thaw();
  process.stdout.write('thawed\n');
});
process.on('SIGTERM', () => {
  void proxy.close().then(() => process.exit(0));
});
process.stdout.write(`listening ${String(proxy.port)}\n`);
