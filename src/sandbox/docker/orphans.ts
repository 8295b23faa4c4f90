/**
 * @module sandbox/docker/orphans
 * Remove the session containers a crashed server left running. Called once at server start.
 * Containers whose server is still alive (another server process on this machine) are kept,
 * as are those made on another host, unless `all` is asked for.
 */
import { hostname } from 'node:os';
import Docker from 'dockerode';
import { LABEL_LIVE, LABEL_SERVER, SERVER_ID } from './container.js';
import { fromDocker } from './errors.js';

export interface RemoveOrphansOptions {
  docker?: Docker;
  /** Remove every potato.live container, whoever made it. */
  all?: boolean;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the server named by a potato.server label (`host:pid:startMs`) is gone. */
export function serverGone(label: string | undefined): boolean {
  if (!label) return true;
  const [host, pidText] = label.split(':');
  if (host !== hostname()) return false;
  if (label === SERVER_ID) return false;
  const pid = Number(pidText);
  // Our own pid with another start time is an earlier process that had the same pid.
  return !Number.isInteger(pid) || pid === process.pid || !alive(pid);
}

/** Returns the ids of the containers removed. */
export async function removeOrphans(opts: RemoveOrphansOptions = {}): Promise<string[]> {
  const docker = opts.docker ?? new Docker();
  let containers: Docker.ContainerInfo[];
  try {
    containers = await docker.listContainers({ all: true, filters: { label: [`${LABEL_LIVE}=1`] } });
  } catch (err) {
    throw fromDocker(docker, err, 'listing session containers');
  }
  const removed: string[] = [];
  for (const c of containers) {
    if (!opts.all && !serverGone(c.Labels?.[LABEL_SERVER])) continue;
    try {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
      removed.push(c.Id);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404)
        throw fromDocker(docker, err, 'removing an orphan container');
    }
  }
  return removed;
}
