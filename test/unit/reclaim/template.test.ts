import { expect } from 'chai';

import {
  RecyclerTemplateError,
  defaultRecyclerTemplate,
  mergeTemplate,
  parseRecyclerTemplate,
} from '../../../src/reclaim/template.ts';

const source = 'file /etc/recycler.yaml';

function problemOf(text: string): string {
  try {
    parseRecyclerTemplate(text, source);
  } catch (err) {
    expect(err).to.be.instanceOf(RecyclerTemplateError);
    return (err as Error).message;
  }
  throw new Error('the template was accepted');
}

const prefix = `recycler template (${source}): `;

describe('recycler pod templates: parsing', () => {
  it('reads YAML with every allowed field', () => {
    const t = parseRecyclerTemplate(
      `
metadata:
  labels: {team: storage}
  annotations: {note: "scrubs volumes"}
spec:
  containers:
    - name: scrub
      image: registry.example/busybox:1.37
      imagePullPolicy: Always
      resources:
        requests: {cpu: 50m, memory: 32Mi}
        limits: {memory: 128Mi, cpu: 1}
      securityContext:
        runAsUser: 1000
        runAsNonRoot: true
        capabilities: {drop: [ALL]}
        seccompProfile: {type: RuntimeDefault}
  securityContext: {fsGroup: 1000, supplementalGroups: [5, 6]}
  nodeSelector: {disk: ssd}
  tolerations:
    - {key: storage, operator: Exists, effect: NoSchedule}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchExpressions: [{key: zone, operator: In, values: [a]}]
  priorityClassName: low
  serviceAccountName: recycler
  imagePullSecrets: [{name: regcred}]
  automountServiceAccountToken: false
`,
      source,
    );
    expect(t.metadata).to.deep.equal({
      labels: { team: 'storage' },
      annotations: { note: 'scrubs volumes' },
    });
    expect(t.spec?.containers).to.deep.equal([
      {
        image: 'registry.example/busybox:1.37',
        imagePullPolicy: 'Always',
        resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { memory: '128Mi', cpu: '1' } },
        securityContext: {
          runAsUser: 1000,
          runAsNonRoot: true,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        },
      },
    ]);
    expect(t.spec).to.deep.include({
      securityContext: { fsGroup: 1000, supplementalGroups: [5, 6] },
      nodeSelector: { disk: 'ssd' },
      tolerations: [{ key: 'storage', operator: 'Exists', effect: 'NoSchedule' }],
      priorityClassName: 'low',
      serviceAccountName: 'recycler',
      imagePullSecrets: [{ name: 'regcred' }],
      automountServiceAccountToken: false,
    });
    expect(
      t.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms,
    ).to.have.length(1);
  });

  it('reads JSON', () => {
    const t = parseRecyclerTemplate('{"spec": {"containers": [{"image": "busybox:1.36"}]}}', source);
    expect(t.spec?.containers).to.deep.equal([{ image: 'busybox:1.36' }]);
  });

  it('reads a template that sets only scheduling', () => {
    const t = parseRecyclerTemplate('spec:\n  nodeSelector:\n    disk: ssd\n', source);
    expect(t).to.deep.equal({ spec: { containers: [], nodeSelector: { disk: 'ssd' } } });
  });

  const bad: [string, string, string][] = [
    ['an empty text', '', 'is empty'],
    ['only a comment', '# nothing\n', 'is empty'],
    ['a list', '- a\n- b\n', 'must be a mapping of metadata and spec (a pod template spec), not a list'],
    [
      'a tab as indentation',
      'spec:\n  containers:\n\t- image: a\n',
      'invalid YAML at line 3, column 1: Tabs are not allowed as indentation',
    ],
    [
      'an unclosed quote',
      'spec:\n  containers:\n    - image: "busybox\n',
      'invalid YAML at line 4, column 1: Missing closing "quote',
    ],
    ['a duplicate key', 'spec: {}\nspec: {}\n', 'invalid YAML at line 2, column 1: Map keys must be unique'],
    ['two documents', 'spec: {}\n---\nspec: {}\n', 'holds 2 YAML documents; give one'],
    [
      'a whole Pod',
      'apiVersion: v1\nkind: Pod\nspec: {}\n',
      'apiVersion is not allowed: the template is a pod template spec: metadata and spec only; ' +
        'kind is not allowed: the template is a pod template spec: metadata and spec only',
    ],
    [
      'an empty image',
      'spec:\n  containers:\n    - image: ""\n',
      'spec.containers[0].image must be a non-empty string',
    ],
    [
      'a numeric image',
      'spec:\n  containers:\n    - image: 42\n',
      'spec.containers[0].image must be a non-empty string',
    ],
    [
      'volumes',
      'spec:\n  volumes: [{name: x, emptyDir: {}}]\n',
      'spec.volumes is not allowed: the recycler mounts the volume to scrub itself',
    ],
    [
      'a command',
      'spec:\n  containers:\n    - image: busybox\n      command: [sh, -c, "true"]\n',
      'spec.containers[0].command is not allowed: the recycler runs its own scrub script',
    ],
    [
      'args',
      'spec:\n  containers:\n    - args: [x]\n',
      'spec.containers[0].args is not allowed: the recycler runs its own scrub script',
    ],
    [
      'a restart policy',
      'spec:\n  restartPolicy: OnFailure\n',
      'spec.restartPolicy is not allowed: recycler pods never restart (the operator retries)',
    ],
    [
      'two containers',
      'spec:\n  containers:\n    - image: a\n    - image: b\n',
      'spec.containers must hold exactly one container (the scrub), not 2',
    ],
    [
      'hostPID',
      'spec:\n  hostPID: true\n',
      'spec.hostPID is not allowed: the recycler needs no host namespaces',
    ],
    [
      'hostNetwork, even false',
      'spec:\n  hostNetwork: false\n',
      'spec.hostNetwork is not allowed: the recycler needs no host namespaces',
    ],
    [
      'a privileged container',
      'spec:\n  containers:\n    - securityContext: {privileged: true}\n',
      'spec.containers[0].securityContext.privileged: true is not allowed: removing files needs no privileged container',
    ],
    [
      'env',
      'spec:\n  containers:\n    - env: [{name: A, value: b}]\n',
      'spec.containers[0].env is not allowed: the scrub script takes no settings',
    ],
    [
      'an unknown field (a typo)',
      'spec:\n  nodeselector: {disk: ssd}\n',
      'spec.nodeselector is not allowed (allowed here: containers, securityContext, nodeSelector, tolerations, ' +
        'affinity, priorityClassName, serviceAccountName, imagePullSecrets, automountServiceAccountToken)',
    ],
    [
      'an unknown security setting',
      'spec:\n  containers:\n    - securityContext: {runAsUsr: 0}\n',
      'spec.containers[0].securityContext.runAsUsr is not allowed (allowed here: allowPrivilegeEscalation, ' +
        'appArmorProfile, capabilities, privileged, procMount, readOnlyRootFilesystem, runAsGroup, runAsNonRoot, ' +
        'runAsUser, seLinuxOptions, seccompProfile, windowsOptions)',
    ],
    [
      'a metadata name',
      'metadata:\n  name: x\n',
      'metadata.name is not allowed: the operator names recycler pods',
    ],
    [
      'a bad pull policy',
      'spec:\n  containers:\n    - imagePullPolicy: Sometimes\n',
      'spec.containers[0].imagePullPolicy must be one of Always, IfNotPresent, Never',
    ],
    [
      'a bad quantity',
      'spec:\n  containers:\n    - resources: {limits: {memory: 64MB}}\n',
      'spec.containers[0].resources.limits.memory must be a quantity such as 100m, 64Mi or 1, not "64MB"',
    ],
    [
      'a string where a number goes',
      'spec:\n  containers:\n    - securityContext: {runAsUser: "0"}\n',
      'spec.containers[0].securityContext.runAsUser must be a whole number, 0 or more',
    ],
    [
      'a yes/no boolean',
      'spec:\n  automountServiceAccountToken: yes\n',
      'spec.automountServiceAccountToken must be true or false',
    ],
    [
      'a numeric label',
      'metadata:\n  labels: {tier: 1}\n',
      'metadata.labels["tier"] must be a string (quote numbers and booleans)',
    ],
    [
      'an invalid label key',
      'metadata:\n  labels: {"-x": a}\n',
      'metadata.labels has an invalid key "-x": the name must be 1 to 63 letters, digits, "-", "_" and ".", ' +
        'starting and ending with a letter or digit',
    ],
    [
      'a bad toleration effect',
      'spec:\n  tolerations: [{key: a, effect: Never}]\n',
      'spec.tolerations[0].effect must be one of NoSchedule, PreferNoSchedule, NoExecute',
    ],
    [
      'an image pull secret without a name',
      'spec:\n  imagePullSecrets: [{}]\n',
      'spec.imagePullSecrets[0].name must be a non-empty string',
    ],
  ];
  for (const [what, text, problem] of bad) {
    it(`rejects ${what}: ${problem}`, () => {
      expect(problemOf(text)).to.equal(prefix + problem);
    });
  }

  it('refuses a text longer than a pod template can be, before parsing it', () => {
    const huge = `metadata:\n  labels:\n${'    a: b\n'.repeat(10_000)}`;
    expect(problemOf(huge)).to.equal(
      `${prefix}is ${String(huge.length)} characters long, more than the 65536 a pod template may take`,
    );
  });

  it('refuses a YAML alias bomb without expanding it', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(
        `${name}: &${name} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}]`,
      );
    }
    // Expanded, it would be 10^9 nodes: the refusal comes from the alias count, not from memory running out.
    expect(() =>
      parseRecyclerTemplate(`metadata:\n  x:\n${levels.map((l) => `    ${l}`).join('\n')}\n`, 'file t'),
    ).to.throw(RecyclerTemplateError, /alias/i);
  });

  it('lists every problem at once, each with its field path', () => {
    const message = problemOf('spec:\n  hostPID: true\n  containers:\n    - image: ""\n      command: [x]\n');
    expect(message).to.equal(
      prefix +
        'spec.hostPID is not allowed: the recycler needs no host namespaces; ' +
        'spec.containers[0].command is not allowed: the recycler runs its own scrub script; ' +
        'spec.containers[0].image must be a non-empty string',
    );
  });

  it('keeps the problems and the source on the error', () => {
    try {
      parseRecyclerTemplate('spec:\n  hostIPC: true\n', 'configmap ops/recycler key template.yaml');
      expect.fail('accepted');
    } catch (err) {
      expect(err).to.be.instanceOf(RecyclerTemplateError);
      expect(err).to.include({ source: 'configmap ops/recycler key template.yaml' });
      expect((err as RecyclerTemplateError).problems).to.deep.equal([
        'spec.hostIPC is not allowed: the recycler needs no host namespaces',
      ]);
    }
  });
});

describe('recycler pod templates: the defaults', () => {
  const t = defaultRecyclerTemplate();
  const c = t.spec?.containers[0];

  it('pins busybox and asks for little', () => {
    expect(c?.image).to.equal('busybox:1.37');
    expect(c?.resources).to.deep.equal({
      requests: { cpu: '10m', memory: '16Mi' },
      limits: { memory: '64Mi' },
    });
  });

  it('runs as root with only the capabilities removing files needs', () => {
    expect(c?.securityContext).to.deep.equal({
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['DAC_OVERRIDE', 'FOWNER'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(t.spec?.automountServiceAccountToken).to.equal(false);
  });

  it('passes its own checks', () => {
    expect(() => parseRecyclerTemplate(JSON.stringify(defaultRecyclerTemplate()), 'defaults')).not.to.throw();
  });

  it('is a fresh object each time', () => {
    c?.securityContext?.capabilities?.add?.push('SYS_ADMIN');
    expect(defaultRecyclerTemplate().spec?.containers[0]?.securityContext?.capabilities?.add).to.deep.equal([
      'DAC_OVERRIDE',
      'FOWNER',
    ]);
  });
});

describe('recycler pod templates: merging', () => {
  const defaults = defaultRecyclerTemplate();

  it('without an administrator template gives the defaults', () => {
    expect(mergeTemplate(defaults)).to.deep.equal(defaults);
  });

  const rows: [string, string, (m: ReturnType<typeof mergeTemplate>) => unknown, unknown][] = [
    [
      'the image',
      'spec: {containers: [{image: "mirror/busybox:1.37"}]}',
      (m) => m.spec?.containers[0]?.image,
      'mirror/busybox:1.37',
    ],
    [
      'the default pull policy is kept when only the image changes',
      'spec: {containers: [{image: "mirror/busybox:1.37"}]}',
      (m) => m.spec?.containers[0]?.imagePullPolicy,
      'IfNotPresent',
    ],
    [
      'resources replace the defaults as a whole',
      'spec: {containers: [{resources: {limits: {memory: 1Gi}}}]}',
      (m) => m.spec?.containers[0]?.resources,
      { limits: { memory: '1Gi' } },
    ],
    [
      'a container securityContext replaces the default as a whole',
      'spec: {containers: [{securityContext: {runAsUser: 1000}}]}',
      (m) => m.spec?.containers[0]?.securityContext,
      { runAsUser: 1000 },
    ],
    [
      'the container is always named scrub',
      'spec: {containers: [{name: pv-recycler}]}',
      (m) => m.spec?.containers[0]?.name,
      'scrub',
    ],
    [
      'automountServiceAccountToken can be turned back on',
      'spec: {automountServiceAccountToken: true}',
      (m) => m.spec?.automountServiceAccountToken,
      true,
    ],
    [
      'labels and annotations are merged',
      'metadata: {labels: {a: "1"}, annotations: {b: "2"}}',
      (m) => m.metadata,
      { labels: { a: '1' }, annotations: { b: '2' } },
    ],
  ];
  for (const [what, text, pick, expected] of rows) {
    it(what, () => {
      expect(pick(mergeTemplate(defaults, parseRecyclerTemplate(text, source)))).to.deep.equal(expected);
    });
  }

  it("labels: the administrator's win over the defaults' on the same key", () => {
    const withLabels = { ...defaults, metadata: { labels: { a: 'default', b: 'default' } } };
    const merged = mergeTemplate(withLabels, parseRecyclerTemplate('metadata: {labels: {a: admin}}', source));
    expect(merged.metadata?.labels).to.deep.equal({ a: 'admin', b: 'default' });
  });

  it('shares nothing with its inputs', () => {
    const admin = parseRecyclerTemplate('spec: {nodeSelector: {disk: ssd}}', source);
    const merged = mergeTemplate(defaults, admin);
    if (merged.spec?.nodeSelector) merged.spec.nodeSelector.disk = 'hdd';
    merged.spec?.containers[0]?.securityContext?.capabilities?.drop?.pop();
    expect(admin.spec?.nodeSelector).to.deep.equal({ disk: 'ssd' });
    expect(defaults.spec?.containers[0]?.securityContext?.capabilities?.drop).to.deep.equal(['ALL']);
  });
});
