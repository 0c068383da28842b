// The deployment manifests in config/, read as files: least privilege, a
// hardened Deployment whose flags the operator accepts, and pieces that refer
// to each other by the right names. The same files are applied to a real
// apiserver in test/integration/manifests.test.ts.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  loadAllYaml,
  type V1ClusterRole,
  type V1Deployment,
  type V1Namespace,
  type V1RoleBinding,
  type V1Service,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import { parseCommandLine } from '../../src/cli.ts';

const configDir = fileURLToPath(new URL('../../config', import.meta.url));

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

interface Kustomization {
  namespace?: string;
  resources?: string[];
}

function load(file: string): Manifest[] {
  return (loadAllYaml(readFileSync(file, 'utf8')) as (Manifest | null)[]).filter((m) => m !== null);
}

/** The objects a kustomization directory renders (resources only; no transformers are used but namespace). */
/** A folder's kustomization file, under any of the names kustomize reads (crds/ uses Kustomization). */
const kustomizationIn = (dir: string) =>
  ['kustomization.yaml', 'kustomization.yml', 'Kustomization']
    .map((f) => join(dir, f))
    .find((f) => existsSync(f));
function render(dir: string): Manifest[] {
  const file = kustomizationIn(dir);
  if (file === undefined) throw new Error(`${dir} has no kustomization`);
  const k = load(file)[0] as unknown as Kustomization;
  const out: Manifest[] = [];
  for (const r of k.resources ?? []) {
    const path = join(dir, r);
    const objects = kustomizationIn(path) !== undefined ? render(path) : load(path);
    out.push(...objects);
  }
  if (k.namespace) {
    for (const m of out) if (m.metadata.namespace !== undefined) m.metadata.namespace = k.namespace;
  }
  return out;
}

function one(objects: Manifest[], kind: string, name: string): unknown {
  const found = objects.filter((m) => m.kind === kind && m.metadata.name === name);
  expect(found, `${kind} ${name}`).to.have.length(1);
  return found[0];
}

describe('config/ manifests', () => {
  const all = render(join(configDir, 'default'));

  it('every kustomization names files and directories that exist', () => {
    const dirs = readdirSync(configDir).filter((d) => existsSync(join(configDir, d, 'kustomization.yaml')));
    expect(dirs).to.include.members([
      'crd',
      'rbac',
      'manager',
      'metrics',
      'default',
      'prometheus',
      'managed',
      'network-policy',
    ]);
    for (const d of dirs) {
      const k = load(join(configDir, d, 'kustomization.yaml'))[0] as unknown as Kustomization;
      for (const r of k.resources ?? [])
        expect(existsSync(join(configDir, d, r)), `${d}: ${r}`).to.equal(true);
    }
  });

  it('crds/ is the one source of the CRDs: kubectl apply -f crds/ reads them all, and kustomize the same list', () => {
    const crdDir = join(configDir, '..', 'crds');
    // kubectl apply -f reads .yaml, .yml and .json files, and nothing else.
    const applied = readdirSync(crdDir).filter((f) => /\.(ya?ml|json)$/.test(f));
    expect(applied.length).to.be.greaterThan(0);
    for (const f of applied) {
      for (const m of load(join(crdDir, f))) expect(m.kind, f).to.equal('CustomResourceDefinition');
    }
    const k = load(join(crdDir, 'Kustomization'))[0] as unknown as Kustomization;
    expect(k.resources ?? []).to.have.members(applied);
    expect(load(join(configDir, 'crd', 'kustomization.yaml'))[0]).to.deep.include({
      resources: ['../../crds'],
    });
  });

  it('config/default has the CRD, the namespace, the identity, the Deployment and the metrics Service', () => {
    expect(all.map((m) => `${m.kind}/${m.metadata.name}`).sort()).to.deep.equal(
      [
        'ClusterRole/pv-lifecycle-metrics-reader',
        'ClusterRole/pv-lifecycle-operator',
        'ClusterRole/pv-lifecycle-operator-namespace',
        'ClusterRoleBinding/pv-lifecycle-operator',
        'CustomResourceDefinition/nfsexports.pvlifecycle.io',
        'Deployment/pv-lifecycle-operator',
        'Namespace/pv-lifecycle-system',
        'PodDisruptionBudget/pv-lifecycle-operator',
        'RoleBinding/pv-lifecycle-operator',
        'Service/pv-lifecycle-operator-metrics',
        'ServiceAccount/pv-lifecycle-operator',
      ].sort(),
    );
    for (const m of all) {
      if (m.metadata.namespace !== undefined)
        expect(m.metadata.namespace, m.kind).to.equal('pv-lifecycle-system');
    }
  });

  it("keeps one replica running through a drain: a PodDisruptionBudget of minAvailable 1 over the Deployment's pods", () => {
    const pdb = one(all, 'PodDisruptionBudget', 'pv-lifecycle-operator') as {
      spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } };
    };
    const d = one(all, 'Deployment', 'pv-lifecycle-operator') as V1Deployment;
    expect(pdb.spec.minAvailable).to.equal(1);
    expect(d.spec?.replicas).to.be.greaterThan(pdb.spec.minAvailable);
    expect(pdb.spec.selector.matchLabels).to.deep.equal(d.spec?.selector.matchLabels);
  });

  describe('RBAC', () => {
    const roles = all.filter(
      (m) => m.kind === 'ClusterRole' && m.metadata.name !== 'pv-lifecycle-metrics-reader',
    ) as unknown as V1ClusterRole[];

    it('grants no wildcard, and nothing that reads secrets or widens its own rights', () => {
      expect(roles).to.have.length(2);
      for (const role of roles) {
        for (const rule of role.rules ?? []) {
          const where = `${role.metadata?.name ?? ''}: ${JSON.stringify(rule)}`;
          expect(rule.apiGroups, where).to.be.an('array').that.is.not.empty;
          expect(rule.resources, where).to.be.an('array').that.is.not.empty;
          expect(rule.verbs, where).to.be.an('array').that.is.not.empty;
          expect(rule.nonResourceURLs, where).to.equal(undefined);
          for (const v of [...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs]) {
            expect(v, where).to.not.contain('*');
          }
          expect(rule.resources, where).to.not.include.members(['secrets']);
          expect(rule.verbs, where).to.not.include.members([
            'escalate',
            'bind',
            'impersonate',
            'deletecollection',
          ]);
        }
      }
    });

    it('gives scrapers of secure metrics get on /metrics and nothing else', () => {
      const reader = one(all, 'ClusterRole', 'pv-lifecycle-metrics-reader') as V1ClusterRole;
      expect(reader.rules).to.deep.equal([{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
    });

    it('never deletes or patches claims, and creates Jobs only through the namespaced role', () => {
      const cluster = one(all, 'ClusterRole', 'pv-lifecycle-operator') as V1ClusterRole;
      const claims = (cluster.rules ?? []).filter((r) => r.resources?.includes('persistentvolumeclaims'));
      expect(claims.flatMap((r) => r.verbs)).to.have.members(['get', 'list', 'watch', 'update']);
      expect((cluster.rules ?? []).some((r) => r.resources?.includes('jobs'))).to.equal(false);
      expect((cluster.rules ?? []).some((r) => r.resources?.includes('leases'))).to.equal(false);
      const ns = one(all, 'ClusterRole', 'pv-lifecycle-operator-namespace') as V1ClusterRole;
      expect((ns.rules ?? []).flatMap((r) => r.resources)).to.have.members([
        'jobs',
        'persistentvolumeclaims',
        'events',
        'configmaps',
        'leases',
      ]);
    });

    it('binds both roles to the ServiceAccount the Deployment runs as, the namespaced one in its namespace only', () => {
      const subject = {
        kind: 'ServiceAccount',
        name: 'pv-lifecycle-operator',
        namespace: 'pv-lifecycle-system',
      };
      const crb = one(all, 'ClusterRoleBinding', 'pv-lifecycle-operator') as V1RoleBinding;
      expect(crb.subjects).to.deep.equal([subject]);
      expect(crb.roleRef.name).to.equal('pv-lifecycle-operator');
      const rb = one(all, 'RoleBinding', 'pv-lifecycle-operator') as V1RoleBinding;
      expect(rb.metadata?.namespace).to.equal('pv-lifecycle-system');
      expect(rb.subjects).to.deep.equal([subject]);
      expect(rb.roleRef).to.deep.equal({
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'pv-lifecycle-operator-namespace',
      });
      const d = one(all, 'Deployment', 'pv-lifecycle-operator') as V1Deployment;
      expect(d.spec?.template.spec?.serviceAccountName).to.equal(subject.name);
    });
  });

  describe('the Deployment', () => {
    const d = one(all, 'Deployment', 'pv-lifecycle-operator') as V1Deployment;
    const pod = d.spec?.template.spec;
    const c = pod?.containers[0];

    it('runs two replicas as a non-root user with a read-only root and no privilege escalation', () => {
      expect(d.spec?.replicas).to.equal(2);
      expect(pod?.containers).to.have.length(1);
      expect(pod?.securityContext?.runAsNonRoot).to.equal(true);
      expect(pod?.securityContext?.seccompProfile?.type).to.equal('RuntimeDefault');
      expect(c?.securityContext?.readOnlyRootFilesystem).to.equal(true);
      expect(c?.securityContext?.allowPrivilegeEscalation).to.equal(false);
      expect(c?.securityContext?.capabilities?.drop).to.deep.equal(['ALL']);
      // The image's own user is the one the pod asks for.
      const dockerfile = readFileSync(join(dirname(configDir), 'Dockerfile'), 'utf8');
      expect(dockerfile).to.match(new RegExp(`^USER ${String(pod?.securityContext?.runAsUser)}:`, 'm'));
    });

    it('has requests and limits, and probes on /healthz and /readyz at the port the operator serves', () => {
      for (const r of ['cpu', 'memory']) {
        expect(c?.resources?.requests?.[r], `request ${r}`).to.be.a('string');
        expect(c?.resources?.limits?.[r], `limit ${r}`).to.be.a('string');
      }
      expect(c?.livenessProbe?.httpGet?.path).to.equal('/healthz');
      expect(c?.readinessProbe?.httpGet?.path).to.equal('/readyz');
      const port = c?.ports?.find((p) => p.name === c.livenessProbe?.httpGet?.port);
      expect(port, 'the probes name a container port').to.not.equal(undefined);
      expect(c?.readinessProbe?.httpGet?.port).to.equal(port?.name);

      const cmd = parseCommandLine(c?.args ?? []);
      if (cmd.kind !== 'run') throw new Error('the Deployment args do not start the operator');
      expect(cmd.options.leaderElection.enabled).to.equal(true);
      expect(cmd.options.metricsBindAddress).to.equal(`:${String(port?.containerPort)}`);
      // Secure by default: the listener is HTTPS, so the kubelet must probe it so.
      expect(cmd.options.metricsSecure, '--metrics-secure').to.equal(true);
      expect(c?.livenessProbe?.httpGet?.scheme).to.equal('HTTPS');
      expect(c?.readinessProbe?.httpGet?.scheme).to.equal('HTTPS');
      expect(c?.env?.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath).to.equal(
        'metadata.namespace',
      );
    });

    it('gives the operator time to abandon its work and hand the lease back before the kubelet kills it', () => {
      const cmd = parseCommandLine(c?.args ?? []);
      if (cmd.kind !== 'run') throw new Error('the Deployment args do not start the operator');
      // SIGTERM: in-flight work for up to the graceful shutdown timeout, then
      // the lease release (two requests, each limited to half the renew
      // deadline), and a second to spare.
      const { gracefulShutdownTimeoutMs, leaderElection } = cmd.options;
      const neededMs = gracefulShutdownTimeoutMs + leaderElection.renewDeadlineMs + 1000;
      const graceMs = (d.spec?.template.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
      expect(neededMs, 'shutdown needs more than terminationGracePeriodSeconds').to.be.at.most(graceMs);
    });

    it('is reached by the metrics Service, which the optional ServiceMonitor selects', () => {
      const svc = one(all, 'Service', 'pv-lifecycle-operator-metrics') as V1Service;
      const labels = d.spec?.template.metadata?.labels ?? {};
      for (const [k, v] of Object.entries(svc.spec?.selector ?? {})) expect(labels[k], k).to.equal(v);
      expect(d.spec?.selector.matchLabels).to.deep.equal(svc.spec?.selector);
      const svcPort = svc.spec?.ports?.[0];
      expect(c?.ports?.map((p) => p.name)).to.include(svcPort?.targetPort);

      const monitor = render(join(configDir, 'prometheus'))[0] as Manifest & {
        spec: {
          selector: { matchLabels: Record<string, string> };
          endpoints: {
            port: string;
            path: string;
            scheme?: string;
            bearerTokenFile?: string;
            tlsConfig?: { insecureSkipVerify?: boolean };
          }[];
        };
      };
      expect(monitor.kind).to.equal('ServiceMonitor');
      for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) {
        expect(svc.metadata?.labels?.[k], k).to.equal(v);
      }
      expect(monitor.spec.endpoints[0]?.port).to.equal(svcPort?.name);
      expect(monitor.spec.endpoints[0]?.path).to.equal('/metrics');
      // The operator answers /metrics only to a token over HTTPS, with a certificate it signed itself.
      expect(monitor.spec.endpoints[0]).to.include({
        scheme: 'https',
        bearerTokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
      });
      expect(monitor.spec.endpoints[0]?.tlsConfig?.insecureSkipVerify).to.equal(true);
    });

    it('is fenced by the optional NetworkPolicy: ingress to the metrics port only, from labelled namespaces', () => {
      const [policy, ...rest] = render(join(configDir, 'network-policy')) as (Manifest & {
        spec: {
          podSelector: { matchLabels: Record<string, string> };
          policyTypes: string[];
          ingress: {
            // client-node's model names the field _from (from is a keyword to it).
            _from: { namespaceSelector?: { matchLabels: Record<string, string> }; podSelector?: unknown }[];
            ports: { port: string; protocol: string }[];
          }[];
        };
      })[];
      expect(rest).to.have.length(0);
      expect(policy?.kind).to.equal('NetworkPolicy');
      expect(policy?.metadata.namespace).to.equal(d.metadata?.namespace);
      // It selects exactly the operator's pods (a policy that selects none protects nothing).
      expect(policy?.spec.podSelector.matchLabels).to.deep.equal(d.spec?.selector.matchLabels);
      expect(policy?.spec.policyTypes).to.deep.equal(['Ingress']);
      expect(policy?.spec.ingress).to.have.length(1);
      const [rule] = policy?.spec.ingress ?? [];
      expect(rule?.ports).to.deep.equal([{ port: 'metrics', protocol: 'TCP' }]);
      expect(c?.ports?.map((p) => p.name)).to.include('metrics');
      expect(rule?._from).to.deep.equal([
        { namespaceSelector: { matchLabels: { 'pvlifecycle.io/metrics-scraper': 'true' } } },
      ]);
    });

    it('lives in a namespace whose Pod Security level admits hostPath scrub pods', () => {
      const ns = one(all, 'Namespace', 'pv-lifecycle-system') as V1Namespace;
      expect(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce']).to.equal('privileged');
    });
  });

  describe('config/managed (beside the in-tree binder)', () => {
    interface Patch {
      target: Record<string, string>;
      patch: string;
    }
    const k = load(join(configDir, 'managed', 'kustomization.yaml'))[0] as unknown as Kustomization & {
      patches?: Patch[];
    };

    it('is config/default with one patch of the Deployment: the operator without its binder', () => {
      expect(k.resources).to.deep.equal(['../default']);
      expect(k.patches).to.have.length(1);
      const [p] = k.patches ?? [];
      expect(p?.target).to.deep.equal({
        group: 'apps',
        version: 'v1',
        kind: 'Deployment',
        name: 'pv-lifecycle-operator',
      });
      const ops = loadAllYaml(p?.patch ?? '')[0] as { op: string; path: string; value: string }[];
      expect(ops).to.have.length(1);
      expect(ops[0]).to.include({ op: 'add', path: '/spec/template/spec/containers/0/args/-' });
      // Container 0 is the operator, and its flags with the one added still parse.
      const d = one(all, 'Deployment', 'pv-lifecycle-operator') as V1Deployment;
      const c = d.spec?.template.spec?.containers[0];
      expect(c?.name).to.equal('operator');
      const cmd = parseCommandLine([...(c?.args ?? []), ops[0]?.value ?? '']);
      if (cmd.kind !== 'run') throw new Error('the managed Deployment args do not start the operator');
      expect([...(cmd.options.controllers ?? [])].sort()).to.deep.equal([
        'nfsexport',
        'provisioner',
        'reclaim',
      ]);
      expect(cmd.options.leaderElection.enabled).to.equal(true);
    });
  });
});
