// The --help texts of the plugin and of each command.
import type { Command } from './args.ts';

const common = `Flags for every command:
  --kubeconfig FILE     the kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config)
  --context NAME        the kubeconfig context to use
  -o, --output FORMAT   table (default), json or yaml
  -h, --help            this help`;

const texts: Record<Command | 'plugin', string> = {
  plugin: `kubectl pvl: look at and steer pv-lifecycle-operator.

Usage: kubectl pvl COMMAND [ARGS] [FLAGS]

Commands:
  why CLAIM       why a claim is Pending: the binder's rules, volume by volume
  release PV      make a Released volume Available again, its data kept
  recycle PV      scrub a Released volume, then make it Available
  status          exports, volumes, scrubs and the operator's leader

Run "kubectl pvl COMMAND --help" for a command's flags.

${common}`,
  why: `kubectl pvl why CLAIM [-n NAMESPACE]

Explains why a PersistentVolumeClaim is Pending with the binder's own fit
rules, read from the API (it works while the operator is down): what the
binder would do now, and for every volume the first rule it fails, nearest
misses first.

  -n, --namespace NS    the claim's namespace (default: the context's, else "default")

${common}`,
  release: `kubectl pvl release PV [--yes] [--timeout 5m]

Asks the operator to release a Released volume (annotation
pvlifecycle.io/reclaim=release): its claimRef is cleared and it is Available
again with its data. Waits for the operator's answer and prints it.

  -y, --yes             do not ask for confirmation
  --timeout DURATION    how long to wait for the answer (1s to 1h, default 5m)

${common}`,
  recycle: `kubectl pvl recycle PV [--yes] [--timeout 5m]

Asks the operator to scrub a Released volume (annotation
pvlifecycle.io/reclaim=recycle; even a Retain volume): a scrub Job deletes
every file, then the volume is Available. Waits for the outcome and prints it.
THE VOLUME'S DATA IS DELETED.

  -y, --yes             do not ask for confirmation
  --timeout DURATION    how long to wait for the outcome (1s to 1h, default 5m)

${common}`,
  status: `kubectl pvl status [--operator-namespace NS] [--lease NAME]

NfsExports by phase and server reachability, volumes by phase, scrub Jobs in
flight and failed, and the operator's leader (the Lease pv-lifecycle-operator).

  --operator-namespace NS   where the operator runs (default pv-lifecycle-system)
  --lease NAME              the operator's --leader-election-id (default pv-lifecycle-operator)

${common}`,
};

export function helpText(command?: Command): string {
  return texts[command ?? 'plugin'];
}
