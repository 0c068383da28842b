// kubectl pvl against the local control plane: run() in this process with the
// admin's kubeconfig (as a user's kubectl would have it), an operator process
// where an answer from it is awaited, and once the compiled bin through kubectl.
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { BatchV1Api, CoreV1Api, type V1PersistentVolume } from '@kubernetes/client-node';
import { expect } from 'chai';

import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import { run } from '../../src/plugin/run.ts';
import { annVolumeName, managedByLabel } from '../../src/reclaim/job.ts';
import type { StatusReport } from '../../src/plugin/status.ts';
import type { WhyReport } from '../../src/plugin/why.ts';
import { operatorOnly } from '../support/binder-under-test.ts';
import { pv, pvc } from '../support/objects.ts';
import { OperatorProcess, quickLeaderElection } from '../support/operator-process.ts';
import { operatorNamespace } from '../support/reclaim-operator.ts';
import { eventually } from '../support/wait.ts';

const exec = promisify(execFile);

/** A command's exit status and output, whether it succeeded or not. */
const outcome = (p: Promise<{ stdout: string; stderr: string }>) =>
  p.then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: unknown) => {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: x.code ?? -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
    },
  );

/** The plugin run in-process; what it printed and its exit status. */
async function pvl(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { code, out, err } = await pvlAnswering(undefined, ...argv);
  return { code, out, err };
}

/** The same on a terminal whose user answers the confirmation with `answer`; the questions are kept. */
async function pvlAnswering(
  answer: string | undefined,
  ...argv: string[]
): Promise<{ code: number; out: string; err: string; asked: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const asked: string[] = [];
  const ask =
    answer === undefined
      ? undefined
      : (q: string) => {
          asked.push(q);
          return Promise.resolve(answer);
        };
  const code = await run([...argv, '--kubeconfig', testCluster().kubeconfig], {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    ask,
    env: {},
    isTTY: false,
  });
  return { code, out: out.join('\n'), err: err.join('\n'), asked };
}

describe('kubectl pvl (local control plane)', function () {
  this.timeout(120_000);
  const ns = 'pvl-plugin';
  const cls = `class-${ns}`;
  const lease = 'pvl-plugin-test';
  let core: CoreV1Api;

  const volume = (name: string, s: Parameters<typeof pv>[1] = {}): Promise<V1PersistentVolume> => {
    const v = pv(`${ns}-${name}`, { storageClass: cls, ...s });
    delete v.status;
    return core.createPersistentVolume({ body: v });
  };
  const claim = (name: string, s: Parameters<typeof pvc>[1] = {}) => {
    const c = pvc(name, { storageClass: cls, namespace: ns, ...s });
    delete c.metadata?.uid;
    return core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c });
  };
  const phaseOf = async (name: string) =>
    (await core.readPersistentVolume({ name: `${ns}-${name}` })).status?.phase;
  const waitPhase = (name: string, phase: string) =>
    eventually(`${ns}-${name} ${phase}`, async () => ((await phaseOf(name)) === phase ? true : undefined));
  /** A Retain volume bound by the operator, then its claim deleted: Released. */
  async function released(name: string): Promise<void> {
    // A class of its own: no other volume of these tests can take its claim.
    await volume(name, { reclaimPolicy: 'Retain', storageClass: `${cls}-${name}` });
    await claim(`for-${name}`, { storageClass: `${cls}-${name}` });
    await waitPhase(name, 'Bound');
    await core.deleteNamespacedPersistentVolumeClaim({ name: `for-${name}`, namespace: ns });
    await waitPhase(name, 'Released');
  }

  before(async () => {
    core = testCluster().kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespace({ body: { metadata: { name: operatorNamespace } } }).catch(() => undefined);
  });

  it('why, with no operator running: names each volume and why it does not fit', async () => {
    await volume('small', { size: '1Gi', modes: ['ReadWriteMany'] });
    await volume('rwo', { size: '5Gi', modes: ['ReadWriteOnce'] });
    await volume('other-class', { size: '5Gi', storageClass: 'elsewhere', modes: ['ReadWriteMany'] });
    await claim('nothing-fits', { size: '2Gi', modes: ['ReadWriteMany'] });

    const table = await pvl('why', 'nothing-fits', '-n', ns);
    expect(table.code, table.err).to.equal(0);
    const lines = table.out.split('\n');
    expect(lines[0]).to.match(
      new RegExp(
        `^claim ${ns}/nothing-fits is Pending: ProvisioningFailed: storageclass.storage.k8s.io "${cls}" not found`,
      ),
    );
    // Column widths follow the longest cell, and other suites' volumes share this cluster.
    expect(lines.some((l) => /^VOLUME +FITS +RULE +REASON$/.test(l))).to.equal(true);
    expect(table.out).to.match(new RegExp(`^${ns}-small +no +size +too small \\(1Gi < 2Gi\\)$`, 'm'));
    expect(table.out).to.match(new RegExp(`^${ns}-rwo +no +accessModes +lacks ReadWriteMany$`, 'm'));
    // The table names the 20 nearest misses: in a cluster shared with other suites, their volumes of
    // other classes may come before other-class, which the JSON below (every volume) holds.

    const json = await pvl('why', 'nothing-fits', '-n', ns, '-o', 'json');
    const report = JSON.parse(json.out) as WhyReport;
    expect(report).to.include({ claim: `${ns}/nothing-fits`, phase: 'Pending', decision: 'pending' });
    const mine = report.candidates.filter((c) => c.volume.startsWith(`${ns}-`));
    expect(mine).to.deep.equal([
      { volume: `${ns}-small`, rule: 'size', reason: 'too small (1Gi < 2Gi)' },
      { volume: `${ns}-rwo`, rule: 'accessModes', reason: 'lacks ReadWriteMany' },
      { volume: `${ns}-other-class`, rule: 'storageClass', reason: 'storage class "elsewhere"' },
    ]);
  });

  it('why: a claim that does not exist, and a bad name, are clear errors', async () => {
    const missing = await pvl('why', 'no-such-claim', '-n', ns);
    expect(missing).to.deep.equal({
      code: 1,
      out: '',
      err: `error: persistentvolumeclaim "no-such-claim" not found in namespace "${ns}"`,
    });
    const bad = await pvl('why', 'Not_A_Name', '-n', ns);
    expect(bad.code).to.equal(2);
    expect(bad.err).to.contain('CLAIM "Not_A_Name" is not a valid name');
  });

  it('release with no operator to answer: a bounded wait, then an error that says so', async () => {
    // Released by hand (status written as the binder would), so no binder is needed.
    const v = await volume('unanswered', { claimRef: { namespace: ns, name: 'gone', uid: 'uid-gone' } });
    await core.replacePersistentVolumeStatus({
      name: v.metadata?.name ?? '',
      body: { ...v, status: { phase: 'Released' } },
    });
    const started = Date.now();
    const r = await pvl('release', `${ns}-unanswered`, '--yes', '--timeout', '2s');
    expect(r.code).to.equal(1);
    expect(r.err).to.equal(
      `error: no answer to pvlifecycle.io/reclaim=release on ${ns}-unanswered within 2 s: ` +
        'is the operator running? (kubectl pvl status)',
    );
    expect(Date.now() - started).to.be.below(30_000);
    // The request stays for when the operator comes: asking again is refused, not written twice.
    const again = await pvl('recycle', `${ns}-unanswered`, '--yes');
    expect(again.err).to.equal(
      `error: volume ${ns}-unanswered already has the request pvlifecycle.io/reclaim=release`,
    );
  });

  describe('with an operator', () => {
    let operator: OperatorProcess | undefined;
    before(async function () {
      operatorOnly(this, 'its reclaim requests and its Lease');
      operator = await OperatorProcess.start({
        kubeconfig: operatorKubeconfig(),
        args: ['--namespace', operatorNamespace, ...quickLeaderElection(lease, operatorNamespace)],
        logFile: join(repoRoot, '.cluster', 'test-logs', 'operator-plugin.log'),
      });
    });
    after(async () => {
      if (operator) expect((await operator.stop()).code).to.equal(0);
    });

    it('release, confirmed at the prompt: the request is answered with VolumeReleasedByRequest, the volume is Available', async () => {
      await released('rel');
      const r = await pvlAnswering('y', 'release', `${ns}-rel`, '--timeout', '60s');
      expect(r.asked).to.have.length(1);
      expect(r.code, r.err).to.equal(0);
      expect(r.out).to.contain(`asked: pvlifecycle.io/reclaim=release on ${ns}-rel`);
      expect(r.out).to.match(/^Normal VolumeReleasedByRequest: claimRef to .* cleared on request/m);
      expect(await phaseOf('rel')).to.equal('Available');
    });

    it('recycle --yes -o json: a Retain volume is scrubbed, VolumeRecycled is the outcome', async () => {
      await released('rec');
      const r = await pvl('recycle', `${ns}-rec`, '--yes', '--timeout', '90s', '-o', 'json');
      expect(r.code, r.err).to.equal(0);
      const answer = JSON.parse(r.out) as { ok: boolean; outcome: { reason: string; note: string } };
      expect(answer.ok).to.equal(true);
      expect(answer.outcome).to.deep.include({ reason: 'VolumeRecycled', note: 'Volume recycled' });
      await waitPhase('rec', 'Available');
    });

    it('release of a volume that is not Released is refused before anything is written', async () => {
      await released('no-tty');
      await volume('avail');
      const r = await pvl('release', `${ns}-avail`, '--yes');
      expect(r.code).to.equal(1);
      expect(r.err).to.equal(
        `error: pvlifecycle.io/reclaim=release applies only to a Released volume; ${ns}-avail is Available`,
      );
      const v = await core.readPersistentVolume({ name: `${ns}-avail` });
      expect(v.metadata?.annotations?.['pvlifecycle.io/reclaim']).to.equal(undefined);
      // Without --yes and without a terminal it does not hang on a prompt.
      const noTty = await pvl('recycle', `${ns}-no-tty`);
      expect(noTty).to.deep.include({
        code: 1,
        err: 'error: no terminal to confirm on: run again with --yes',
      });
      // On a terminal, anything but y/yes cancels, and nothing is written.
      const no = await pvlAnswering('n', 'recycle', `${ns}-no-tty`);
      expect(no).to.deep.include({ code: 1, err: 'cancelled' });
      expect(no.asked).to.deep.equal([
        `scrub (DELETE ALL DATA ON) volume ${ns}-no-tty, then make it Available? [y/N] `,
      ]);
      const after = await core.readPersistentVolume({ name: `${ns}-no-tty` });
      expect(after.metadata?.annotations?.['pvlifecycle.io/reclaim']).to.equal(undefined);
      expect(after.status?.phase).to.equal('Released');
    });

    it('status: the leader, volumes by phase and exports, as a table and as json', async () => {
      const holder = await eventually('the operator holds the Lease', async () => {
        const r = await pvl('status', '--lease', lease, '-o', 'json');
        const s = JSON.parse(r.out) as StatusReport;
        return 'live' in s.leader && s.leader.live ? s.leader.holder : undefined;
      });
      const r = await pvl('status', '--lease', lease, '-o', 'json');
      expect(r.code, r.err).to.equal(0);
      const s = JSON.parse(r.out) as StatusReport;
      const all = await core.listPersistentVolume();
      expect(s.volumes.total).to.equal(all.items.length);
      expect(s.volumes.byPhase.Available ?? 0).to.be.at.least(2); // rel and rec, released and recycled here
      expect(s.exports).to.not.equal(undefined); // the CRD is installed by the root hook
      const table = await pvl('status', '--lease', lease);
      expect(table.out).to.match(new RegExp(`^leader +${holder} \\(renewed `, 'm'));
      expect(table.out).to.match(new RegExp(`^lease +${operatorNamespace}/${lease}$`, 'm'));
      expect(table.out).to.match(/^volumes +\d+: .*Available \d+/m);
      expect(table.out).not.to.contain('\u001b[');
      const none = await pvl('status', '--lease', 'nobody-holds-this');
      expect(none.out).to.contain('no Lease');
    });

    it('status: scrub Jobs by their label, in the namespace --operator-namespace names', async () => {
      // A suspended Job with the scrub Jobs' label in a namespace no operator runs in: in flight, never run.
      const batch = testCluster().kubeConfig().makeApiClient(BatchV1Api);
      await batch.createNamespacedJob({
        namespace: ns,
        body: {
          metadata: {
            name: 'recycle-look-alike',
            labels: { [managedByLabel.key]: managedByLabel.value },
            annotations: { [annVolumeName]: `${ns}-ghost` },
          },
          spec: {
            suspend: true,
            template: {
              spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox:1.37' }] },
            },
          },
        },
      });
      await batch.createNamespacedJob({
        namespace: ns,
        body: {
          metadata: { name: 'unlabelled' },
          spec: {
            suspend: true,
            template: {
              spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox:1.37' }] },
            },
          },
        },
      });
      const r = await pvl('status', '--operator-namespace', ns, '-o', 'yaml');
      expect(r.code, r.err).to.equal(0);
      expect(r.out).to.contain(`leader:\n  lease: ${ns}/pv-lifecycle-operator\n  missing: true`);
      const table = await pvl('status', '--operator-namespace', ns);
      expect(table.out).to.match(/^scrubs +1 in flight, 0 failed$/m);
      expect(table.out).to.match(new RegExp(`^recycle-look-alike +${ns}-ghost +Running +since `, 'm'));
      expect(table.out).not.to.contain('unlabelled');
    });
  });

  it('the compiled bin, found by kubectl on PATH', async () => {
    const build = join(repoRoot, '.cluster', `pvl-build-${process.env.TEST_CLUSTER_NAME ?? 'test'}`);
    rmSync(build, { recursive: true, force: true });
    // Compiled as the image compiles the operator (tsconfig.build.json); inside the
    // checkout so the package's node_modules and "type": "module" are found.
    await exec(
      process.execPath,
      [
        join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        'tsconfig.build.json',
        '--outDir',
        join(build, 'dist'),
      ],
      {
        cwd: repoRoot,
      },
    );
    const main = join(build, 'dist', 'src', 'plugin', 'main.js');
    chmodSync(main, 0o755);
    const bin = join(build, 'bin');
    mkdirSync(bin);
    symlinkSync(main, join(bin, 'kubectl-pvl'));
    const kubectl = testCluster().kubectl;
    const env = {
      ...process.env,
      PATH: `${bin}:${join(process.execPath, '..')}:${process.env.PATH ?? ''}`,
      KUBECONFIG: testCluster().kubeconfig,
    };
    // kubectl plugin list exits 1 on warnings about other plugins on PATH; the listing is what counts.
    const list = await outcome(exec(kubectl, ['plugin', 'list'], { env }));
    expect(list.stdout).to.contain(join(bin, 'kubectl-pvl'));
    const help = await exec(kubectl, ['pvl', '--help'], { env });
    expect(help.stdout).to.match(/^kubectl pvl: look at and steer pv-lifecycle-operator\./);
    expect(help.stdout).to.contain('why CLAIM');
    const why = await exec(kubectl, ['pvl', 'why', 'nothing-fits', '-n', ns, '-o', 'yaml'], { env });
    expect(why.stdout).to.contain(`claim: ${ns}/nothing-fits`);
    const usage = await outcome(exec(kubectl, ['pvl', 'frobnicate'], { env }));
    expect(usage.code).to.equal(2);
    expect(usage.stderr).to.contain('unknown command "frobnicate"');
    const missing = await outcome(exec(kubectl, ['pvl', 'release', 'no-such-volume', '--yes'], { env }));
    expect(missing).to.deep.include({
      code: 1,
      stderr: 'error: persistentvolume "no-such-volume" not found\n',
    });
  });
});
