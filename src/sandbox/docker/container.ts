/**
 * @module sandbox/docker/container
 * The container one session runs in, described from the sandbox config: image, the workspace
 * bind mount at /workspace, extra volumes, network, resource limits and the labels that let a
 * restarted server find what a crashed one left behind.
 */
import { hostname } from 'node:os';
import type Docker from 'dockerode';
import type { SandboxConfig } from '../../config/schema.js';

export const CONTAINER_WORKSPACE = '/workspace';
export const LABEL_LIVE = 'potato.live';
export const LABEL_SESSION = 'potato.session';
/** `host:pid:startMs` of the server that made the container: tells a live owner from a dead one. */
export const LABEL_SERVER = 'potato.server';

/** A week: the container outlives any session; close() or removeOrphans() ends it. */
const KEEP_ALIVE_SECONDS = 7 * 24 * 3600;

const processStartMs = Math.round(Date.now() - process.uptime() * 1000);
export const SERVER_ID = `${hostname()}:${process.pid}:${processStartMs}`;

export interface Volume {
  host: string;
  container: string;
  readOnly: boolean;
}

/** Parse `HOST:CONTAINER[:ro|rw]` (the schema already checked the shape; HOST is absolute by now). */
export function parseVolume(spec: string): Volume {
  const parts = spec.split(':');
  const [host = '', container = '', mode = 'rw'] = parts;
  return { host, container: container.replace(/\/+$/, '') || '/', readOnly: mode === 'ro' };
}

/** Docker names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*; a session id may hold anything. */
export function containerName(sessionId: string): string {
  const safe = sessionId.replace(/[^a-zA-Z0-9_.-]/g, '-').slice(0, 100);
  return `potato-session-${safe}`;
}

/**
 * The user commands run as. Root here is root on the host's files too, so a root server keeps
 * root; any other server user runs the container as itself so the files the agent creates in
 * the bind-mounted workspace belong to it and git on the host can commit and reset them.
 */
export function containerUser(): string | undefined {
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  if (uid === undefined || gid === undefined || uid === 0) return undefined;
  return `${uid}:${gid}`;
}

export function containerSpec(
  cfg: SandboxConfig,
  workspace: string,
  sessionId: string,
  serverMounts: Volume[] = [],
): Docker.ContainerCreateOptions {
  const user = containerUser();
  const volumes = [...cfg.mount_volumes.map(parseVolume), ...serverMounts];
  return {
    name: containerName(sessionId),
    Image: cfg.image,
    // The image's entrypoint could be a server or a shell that exits; the sandbox only needs a
    // long-lived process to exec into.
    Entrypoint: ['sleep'],
    Cmd: [String(KEEP_ALIVE_SECONDS)],
    WorkingDir: CONTAINER_WORKSPACE,
    User: user,
    // A user without a passwd entry has HOME=/ which is not writable: give tools somewhere to go.
    Env: user ? ['HOME=/tmp'] : [],
    Labels: { [LABEL_LIVE]: '1', [LABEL_SESSION]: sessionId, [LABEL_SERVER]: SERVER_ID },
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    HostConfig: {
      Binds: [
        `${workspace}:${CONTAINER_WORKSPACE}:rw`,
        ...volumes.map((v) => `${v.host}:${v.container}:${v.readOnly ? 'ro' : 'rw'}`),
      ],
      NetworkMode: cfg.network ? 'bridge' : 'none',
      NanoCpus: Math.round(cfg.cpus * 1e9),
      Memory: cfg.memory_mb * 1024 * 1024,
      // Equal to Memory: no swap on top, so the limit is the limit.
      MemorySwap: cfg.memory_mb * 1024 * 1024,
      PidsLimit: cfg.pids_limit,
      // A real init reaps the processes a timed-out command leaves behind.
      Init: true,
      SecurityOpt: ['no-new-privileges'],
    },
  };
}
