// Where the administrator's recycler pod template comes from: a file, or a
// key of a ConfigMap in the operator's namespace. Read once at start, bounded,
// and checked by parseRecyclerTemplate; every failure names its source.
import { closeSync, openSync, readSync } from 'node:fs';

import type { CoreV1Api, V1PodTemplateSpec } from '@kubernetes/client-node';

import { apiMessage } from '../kube/api-errors.ts';
import { maxTemplateLength, parseRecyclerTemplate } from './template.ts';

export type TemplateSource = { file: string } | { configMap: string; key: string };

/** At most limit bytes of the file as UTF-8: a wrong path (a device, a huge file) cannot stall start-up. */
function readBounded(path: string, limit: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(limit);
    let length = 0;
    while (length < limit) {
      const n = readSync(fd, buf, length, limit - length, null);
      if (n === 0) break;
      length += n;
    }
    return buf.subarray(0, length).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The template, checked; throws with the reason. */
export async function loadRecyclerTemplate(
  source: TemplateSource,
  namespace: string,
  core: CoreV1Api,
): Promise<V1PodTemplateSpec> {
  if ('file' in source) {
    return parseRecyclerTemplate(readBounded(source.file, maxTemplateLength + 1), `file ${source.file}`);
  }
  const where = `ConfigMap ${namespace}/${source.configMap}`;
  let data: Record<string, string> | undefined;
  try {
    data = (await core.readNamespacedConfigMap({ name: source.configMap, namespace })).data;
  } catch (e) {
    throw new Error(`recycler template (${where}): cannot read it: ${apiMessage(e)}`, { cause: e });
  }
  const text = data?.[source.key];
  if (text === undefined) throw new Error(`recycler template (${where}): it has no key "${source.key}"`);
  return parseRecyclerTemplate(text, `${where} key ${source.key}`);
}
