/**
 * @module sandbox/docker/errors
 * Turns Docker Engine failures into SandboxErrors a user can act on. There is never a fallback
 * to the local sandbox: a config that asks for Docker gets Docker or a clear error.
 */
import type Docker from 'dockerode';
import { SandboxError } from '../types.js';

/** Where dockerode is talking to, for messages (DOCKER_HOST or the socket path). */
export function engineAddress(docker: Docker): string {
  const modem = docker.modem as { socketPath?: unknown; host?: unknown; port?: unknown; protocol?: unknown };
  if (typeof modem.socketPath === 'string') return modem.socketPath;
  if (typeof modem.host === 'string') return `${modem.protocol ?? 'http'}://${modem.host}:${modem.port ?? ''}`;
  return process.env.DOCKER_HOST ?? '/var/run/docker.sock';
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EHOSTUNREACH', 'ETIMEDOUT']);

function errno(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

export function unreachable(docker: Docker, err: unknown): SandboxError {
  const address = engineAddress(docker);
  const why = errno(err) === 'EACCES' ? ` (permission denied: add this user to the docker group)` : '';
  return new SandboxError(
    `Docker is not reachable at ${address}: is dockerd running?${why} ` +
      '(sandbox.type is docker; set it to local for development)',
    'unavailable',
    { cause: err },
  );
}

export function imageMissing(image: string): SandboxError {
  return new SandboxError(
    `Docker image '${image}' is not on this machine and there is no image registry here: ` +
      `\`docker pull ${image}\` where a registry is reachable, or build a root filesystem and ` +
      `\`docker import\` it as ${image} (scripts/docker/build-test-images.sh shows how), ` +
      'or change sandbox.image',
    'unavailable',
  );
}

/** Map any error from a Docker call; `image` names the image when the call could miss it. */
export function fromDocker(docker: Docker, err: unknown, doing: string, image?: string): SandboxError {
  if (err instanceof SandboxError) return err;
  const code = errno(err);
  if (code && UNREACHABLE_CODES.has(code)) return unreachable(docker, err);
  const message = err instanceof Error ? err.message : String(err);
  if (image && statusOf(err) === 404 && /no such image/i.test(message)) return imageMissing(image);
  return new SandboxError(`Docker failed while ${doing}: ${message}`, 'io', { cause: err });
}
