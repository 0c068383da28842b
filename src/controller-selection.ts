// Which of the operator's controllers run, chosen as kube-controller-manager's
// --controllers are: "*" for every one, a name to turn one on, "-name" to
// turn one off (an "off" wins over an "on" of the same name). Managed
// clusters, whose own PV binder cannot be turned off, run "*,-binder".

export const controllerNames = ['binder', 'reclaim', 'nfsexport', 'provisioner'] as const;
export type ControllerName = (typeof controllerNames)[number];

export const allControllers: ReadonlySet<ControllerName> = new Set(controllerNames);

/** Longer than any sensible list; a longer value is refused before it is split. */
const maxLength = 256;

const isName = (s: string): s is ControllerName => (controllerNames as readonly string[]).includes(s);

/** Parses the value of --controllers; throws an Error that names the flag and what is wrong. */
export function parseControllers(text: string): ReadonlySet<ControllerName> {
  const flag = '--controllers';
  if (text.length > maxLength) {
    throw new Error(`${flag}: longer than ${String(maxLength)} characters`);
  }
  const known = `known: ${controllerNames.join(', ')}, and * for all`;
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) {
    throw new Error(`${flag}: "${text}" has an empty entry; give a comma-separated list (${known})`);
  }
  let all = false;
  const on = new Set<ControllerName>();
  const off = new Set<ControllerName>();
  for (const item of items) {
    if (item === '*') {
      all = true;
      continue;
    }
    const name = item.startsWith('-') ? item.slice(1) : item;
    if (!isName(name)) {
      throw new Error(`${flag}: unknown controller ${JSON.stringify(name.slice(0, 64))} (${known})`);
    }
    (item.startsWith('-') ? off : on).add(name);
  }
  const chosen = new Set(controllerNames.filter((n) => !off.has(n) && (all || on.has(n))));
  if (chosen.size === 0) throw new Error(`${flag}: "${text}" turns every controller off`);
  return chosen;
}

/** The list in a stable order, for logs. */
export function describeControllers(chosen: ReadonlySet<ControllerName>): string {
  return controllerNames.filter((n) => chosen.has(n)).join(',');
}
