/**
 * @module test/docker/sandbox.test
 * DockerSandbox against a real engine and the potato-test/busybox image: commands, timeouts,
 * output caps, files through the bind mount, isolation (network, labels, limits), cleanup.
 */
import { execFileSync } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, DockerSandbox, removeOrphans } from '../../src/sandbox/docker/index.js';
import { SandboxError } from '../../src/sandbox/types.js';
import { BUSYBOX_IMAGE, ensureDockerImages, sandboxConfig, tempWorkspace } from './engine.js';

const docker = new Docker();
const opened: DockerSandbox[] = [];

function open(name: string, overrides: Parameters<typeof sandboxConfig>[0] extends infer T ? Partial<T> : never = {}) {
  const sb = new DockerSandbox(
    sandboxConfig({ workspace: tempWorkspace(name), ...overrides }),
    `test-${name}-${process.pid}`,
  );
  opened.push(sb);
  return sb;
}

beforeAll(() => ensureDockerImages());
afterAll(async () => {
  for (const sb of opened) await sb.close();
});

describe('DockerSandbox exec', () => {
  let sb: DockerSandbox;
  beforeAll(async () => {
    sb = open('exec');
    await sb.start();
  });

  it('returns output, exit code, and streams chunks as they come', async () => {
    const chunks: string[] = [];
    const r = await sb.exec('echo out; echo err >&2; exit 7', { timeoutMs: 10_000, onOutput: (c) => chunks.push(c) });
    expect(r.exitCode).toBe(7);
    expect(r.timedOut).toBe(false);
    expect(r.output.split('\n').sort()).toEqual(['', 'err', 'out']);
    expect(chunks.join('')).toBe(r.output);
    const ok = await sb.exec('pwd; id -u', { timeoutMs: 10_000 });
    expect(ok).toMatchObject({ exitCode: 0, output: '/workspace\n0\n' });
  });

  it('runs each command in a fresh shell and keeps output that has no final newline', async () => {
    await sb.exec('cd /tmp; X=1', { timeoutMs: 10_000 });
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion
    const r = await sb.exec('printf "%s:%s" "$(pwd)" "${X:-unset}"', { timeoutMs: 10_000 });
    expect(r.output).toBe('/workspace:unset');
  });

  it('kills a command that outlives its timeout, background children included', async () => {
    const started = Date.now();
    const r = await sb.exec('sleep 301 & echo started; sleep 302; echo never', { timeoutMs: 800 });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBeNull();
    expect(r.output).toContain('started');
    expect(r.output).not.toContain('never');
    expect(Date.now() - started).toBeLessThan(10_000);
    const ps = await sb.exec('ps -o args', { timeoutMs: 10_000 });
    expect(ps.output).not.toMatch(/sleep 30[12]/);
    // The sandbox keeps working after a kill.
    expect((await sb.exec('echo again', { timeoutMs: 10_000 })).output).toBe('again\n');
  });

  it('stops a command when the caller aborts', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const r = await sb.exec('sleep 303', { timeoutMs: 60_000, signal: ac.signal });
    expect(r).toMatchObject({ exitCode: null, timedOut: false });
    expect((await sb.exec('ps -o args', { timeoutMs: 10_000 })).output).not.toContain('sleep 303');
  });

  it('runs concurrent commands side by side', async () => {
    const [a, b] = await Promise.all([
      sb.exec('sleep 1; echo a', { timeoutMs: 10_000 }),
      sb.exec('echo b', { timeoutMs: 10_000 }),
    ]);
    expect(a.output).toBe('a\n');
    expect(b.output).toBe('b\n');
  });
});

describe('DockerSandbox spawn', () => {
  let sb: DockerSandbox;
  beforeAll(async () => {
    sb = open('spawn');
    await sb.start();
  });

  const exited = (p: ReturnType<DockerSandbox['spawn']>) =>
    new Promise<[number | null, NodeJS.Signals | null]>((r) => p.once('exit', (code, signal) => r([code, signal])));
  const text = (stream: NodeJS.ReadableStream) =>
    new Promise<string>((r) => {
      let out = '';
      stream.on('data', (c: Buffer) => {
        out += c.toString();
      });
      stream.on('end', () => r(out));
    });

  it("drives a program over stdin and stdout with only the env it is given (none of the server's), and reports its exit code", async () => {
    const p = sb.spawn({
      argv: [
        '/bin/sh',
        '-c',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions
        'while read -r line; do echo "got $line in $PWD as ${MARK:-none}/${VITEST:-unset}"; done; exit 3',
      ],
      env: { MARK: 'given' },
      cwd: '/tmp',
    });
    const out = text(p.stdout);
    const done = exited(p);
    // Written before the exec is attached: buffered, not lost.
    p.stdin.write('one\ntwo\n');
    p.stdin.end();
    expect(await done).toEqual([3, null]);
    expect(await out).toBe('got one in /tmp as given/unset\ngot two in /tmp as given/unset\n');
    expect(p.exitCode).toBe(3);
  });

  it('kill() signals the program and everything it started, and the exit says which signal', async () => {
    const p = sb.spawn({ argv: ['/bin/sh', '-c', 'sleep 311 & echo ready; sleep 312'], env: {}, cwd: '/workspace' });
    await new Promise<void>((r) => p.stdout.once('data', () => r()));
    const done = exited(p);
    expect(p.kill('SIGKILL')).toBe(true);
    expect(await done).toEqual([null, 'SIGKILL']);
    expect(p.killed).toBe(true);
    // The listing works (it shows itself), and neither sleep is in it.
    const ps = await sb.exec('ps', { timeoutMs: 10_000 });
    expect(ps.output).toMatch(/\bps\b/);
    expect(ps.output).not.toMatch(/sleep 31[12]/);
  });
});

describe('DockerSandbox output cap', () => {
  it('keeps the head and the tail of a long output and says it was cut', async () => {
    const sb = open('cap', { max_output_bytes: 1000 });
    const r = await sb.exec('seq 1 100000', { timeoutMs: 20_000 });
    expect(r.exitCode).toBe(0);
    expect(r.truncated).toBe(true);
    expect(r.output.startsWith('1\n2\n3\n')).toBe(true);
    expect(r.output.endsWith('99999\n100000\n')).toBe(true);
    expect(r.output).toMatch(/bytes of output cut/);
    expect(Buffer.byteLength(r.output)).toBeLessThan(1200);
  });
});

describe('DockerSandbox files', () => {
  it('reads, writes and lists through the bind mount, as the container sees them', async () => {
    const sb = open('files');
    await sb.writeFile('src/app.txt', 'from the host\n');
    const seen = await sb.exec('cat src/app.txt && mkdir -p out && echo made > out/result.txt', { timeoutMs: 10_000 });
    expect(seen).toMatchObject({ exitCode: 0, output: 'from the host\n' });
    expect(await sb.readFile('out/result.txt')).toBe('made\n');
    expect(await sb.readFile('/workspace/out/result.txt')).toBe('made\n');
    expect(await sb.list('.', 1)).toEqual([
      { path: 'out/', type: 'dir' },
      { path: 'out/result.txt', type: 'file' },
      { path: 'src/', type: 'dir' },
      { path: 'src/app.txt', type: 'file' },
    ]);
    expect(sb.resolve('src/app.txt')).toBe(`${sb.workspace}/src/app.txt`);
  });

  it('refuses paths that leave the workspace, including symlinks made in the container', async () => {
    const sb = open('confine');
    await expect(sb.readFile('../../etc/passwd')).rejects.toMatchObject({ code: 'outside_workspace' });
    await expect(sb.writeFile('/etc/evil', 'x')).rejects.toMatchObject({ code: 'outside_workspace' });
    // Inside the container this link points at the container's /etc; on the host it would
    // point at the host's. Either way it leaves the workspace.
    await sb.exec('ln -s /etc/passwd leak; ln -s /etc etcdir', { timeoutMs: 10_000 });
    await expect(sb.readFile('leak')).rejects.toMatchObject({ code: 'outside_workspace' });
    await expect(sb.writeFile('etcdir/owned', 'x')).rejects.toMatchObject({ code: 'outside_workspace' });
    symlinkSync('/etc/hostname', `${sb.workspace}/hostlink`);
    await expect(sb.readFile('hostlink')).rejects.toBeInstanceOf(SandboxError);
    await expect(sb.readFile('missing.txt')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('maps a mounted volume under /workspace to its host folder', async () => {
    const repo = tempWorkspace('volume');
    const sb = open('volume', { mount_volumes: [`${repo}:/workspace/repo`] });
    await sb.exec('echo in-volume > repo/v.txt', { timeoutMs: 10_000 });
    expect(await sb.readFile('repo/v.txt')).toBe('in-volume\n');
    expect(sb.resolve('repo/v.txt')).toBe(`${repo}/v.txt`);
  });
});

describe('DockerSandbox container', () => {
  it('runs with the workspace mounted, labels, limits and no network, and is gone after close', async () => {
    const sb = open('inspect', { cpus: 1.5, memory_mb: 256, pids_limit: 64 });
    await sb.start();
    const info = await docker.getContainer(sb.containerId ?? '').inspect();
    expect(info.Config.Labels).toMatchObject({ 'potato.live': '1', 'potato.session': sb.sessionId });
    expect(info.HostConfig.NetworkMode).toBe('none');
    expect(info.HostConfig.Memory).toBe(256 * 1024 * 1024);
    expect(info.HostConfig.NanoCpus).toBe(1.5e9);
    expect(info.HostConfig.PidsLimit).toBe(64);
    expect(info.Mounts).toContainEqual(
      expect.objectContaining({ Source: sb.workspace, Destination: '/workspace', RW: true }),
    );
    // The pids limit is enforced: a fork storm fails instead of taking the machine.
    const storm = await sb.exec('for i in $(seq 1 100); do sleep 5 & done; wait', { timeoutMs: 20_000 });
    expect(storm.output).toMatch(/can't fork|Resource temporarily unavailable|Cannot fork/i);
    await sb.close();
    await expect(docker.getContainer(info.Id).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  describe('network', () => {
    let server: Server;
    let gateway: string;
    let port: number;
    let connections = 0;
    beforeAll(async () => {
      const bridge = await docker.getNetwork('bridge').inspect();
      // The host's address on the bridge: the IPAM gateway, or (when the engine leaves it
      // implicit) the subnet's first address, which is what dockerd gives docker0.
      const ipam = bridge.IPAM?.Config?.[0] ?? {};
      gateway = ipam.Gateway || String(ipam.Subnet ?? '').replace(/\.0\/\d+$/, '.1');
      expect(gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      server = createServer((socket) => {
        connections++;
        socket.end('hello from the host\n');
      });
      await new Promise<void>((resolve) => server.listen(0, gateway, resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

    it('cannot reach the host when network is off, and can when it is on', async () => {
      const off = open('net-off');
      const cmd = () => `nc -w 3 ${gateway} ${port} </dev/null`;
      const blocked = await off.exec(cmd(), { timeoutMs: 15_000 });
      expect(blocked.exitCode).not.toBe(0);
      expect(blocked.output).not.toContain('hello from the host');
      expect(connections).toBe(0);

      const on = open('net-on', { network: true });
      const allowed = await on.exec(cmd(), { timeoutMs: 15_000 });
      expect(allowed.output).toContain('hello from the host');
      expect(connections).toBe(1);
    });
  });

  it('removes containers a crashed server left, and keeps live ones', async () => {
    const live = open('live');
    await live.start();
    const orphan = await docker.createContainer({
      Image: BUSYBOX_IMAGE,
      Entrypoint: ['sleep'],
      Cmd: ['600'],
      Labels: { 'potato.live': '1', 'potato.session': 'crashed', 'potato.server': `${hostname()}:2147483646:1` },
      HostConfig: { NetworkMode: 'none' },
    });
    await orphan.start();
    const removed = await removeOrphans();
    expect(removed).toContain(orphan.id);
    expect(removed).not.toContain(live.containerId);
    await expect(orphan.inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect((await docker.getContainer(live.containerId ?? '').inspect()).State.Running).toBe(true);
  });
});

describe('DockerSandbox errors', () => {
  it('names a missing image and how to get it, without falling back to local', async () => {
    const sb = createSandbox(
      sandboxConfig({ workspace: tempWorkspace('noimage'), image: 'potato-test/not-built:1' }),
      'test-noimage',
    );
    const err = await sb.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SandboxError);
    expect(err).toMatchObject({ code: 'unavailable' });
    expect((err as Error).message).toMatch(/potato-test\/not-built:1/);
    expect((err as Error).message).toMatch(/no image registry here.*docker pull.*docker import/);
    await sb.close();
  });

  it('says Docker is not reachable and what to do', async () => {
    const sb = new DockerSandbox(sandboxConfig({ workspace: tempWorkspace('nodaemon') }), 'test-nodaemon', {
      docker: new Docker({ socketPath: '/tmp/potato-no-such-docker.sock' }),
    });
    await expect(sb.exec('true', { timeoutMs: 5000 })).rejects.toThrow(
      'Docker is not reachable at /tmp/potato-no-such-docker.sock: is dockerd running? (sandbox.type is docker; set it to local for development)',
    );
  });
});

describe('test hygiene', () => {
  it('leaves no container of this run behind', async () => {
    for (const sb of opened) await sb.close();
    const left = execFileSync('docker', ['ps', '-aq', '--filter', `label=potato.session`, '--format', '{{.Labels}}'])
      .toString()
      .split('\n')
      .filter((l) => l.includes(`-${process.pid}`));
    expect(left).toEqual([]);
  });
});
