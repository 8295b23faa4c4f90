/**
 * @module sandbox/docker/sandbox
 * DockerSandbox: one container per session, commands run through the Engine's exec API, files
 * read and written on the host side of the workspace bind mount.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import Docker from 'dockerode';
import type { SandboxConfig } from '../../config/schema.js';
import type { DirEntry, ExecOptions, ExecResult, Sandbox, SandboxProcess, SpawnRequest } from '../types.js';
import { SandboxError } from '../types.js';
import { containerName, containerSpec, parseVolume, type Volume } from './container.js';
import { fromDocker, unreachable } from './errors.js';
import { RunnerPool } from './exec.js';
import { WorkspaceFiles } from './files.js';
import { ContainerProcess } from './process.js';

export interface DockerSandboxOptions {
  /** The Engine client; by default one from the environment (DOCKER_HOST or the local socket). */
  docker?: Docker;
  /** A workspace for this session other than `cfg.workspace` (absolute host path). */
  workspace?: string;
  /**
   * Binds the server adds for itself beyond `mount_volumes` (e.g. the Claude Code CLI, read-only,
   * and the folder of the model API socket); not visible to the file tools.
   */
  mounts?: Volume[] | (() => Volume[]);
}

export class DockerSandbox implements Sandbox {
  readonly type = 'docker' as const;
  readonly workspace: string;
  readonly docker: Docker;
  private readonly files: WorkspaceFiles;
  private container: Docker.Container | undefined;
  private runners: RunnerPool | undefined;
  private starting: Promise<void> | undefined;
  private closed = false;
  private readonly mounts: Volume[] | (() => Volume[]);

  constructor(
    private readonly cfg: SandboxConfig,
    readonly sessionId: string,
    opts: DockerSandboxOptions = {},
  ) {
    this.docker = opts.docker ?? new Docker();
    this.workspace = path.resolve(opts.workspace ?? cfg.workspace);
    this.files = new WorkspaceFiles(this.workspace, cfg.mount_volumes.map(parseVolume));
    this.mounts = opts.mounts ?? [];
  }

  /** The container's id once started (for logs and tests). */
  get containerId(): string | undefined {
    return this.container?.id;
  }

  start(): Promise<void> {
    if (this.closed) return Promise.reject(new SandboxError('this session sandbox has been closed', 'unavailable'));
    this.starting ??= this.create().catch((err) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private async create(): Promise<void> {
    await mkdir(this.workspace, { recursive: true });
    try {
      await this.docker.ping();
    } catch (err) {
      throw unreachable(this.docker, err);
    }
    // Given as a function, the server's mounts are prepared here, so a failure fails start().
    const mounts = typeof this.mounts === 'function' ? this.mounts() : this.mounts;
    const spec = containerSpec(this.cfg, this.workspace, this.sessionId, mounts);
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(spec);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 409)
        throw fromDocker(this.docker, err, 'creating the container', this.cfg.image);
      // The name is taken by a container a crashed server left for this same session.
      await this.docker
        .getContainer(containerName(this.sessionId))
        .remove({ force: true })
        // No leftover container of this name: nothing to remove.
        .catch(() => undefined);
      container = await this.docker
        .createContainer(spec)
        .catch((e) => Promise.reject(fromDocker(this.docker, e, 'creating the container', this.cfg.image)));
    }
    this.container = container;
    try {
      await container.start();
    } catch (err) {
      // Cleanup after a failed start: the start error thrown below is the one to report.
      await container.remove({ force: true }).catch(() => undefined);
      this.container = undefined;
      throw fromDocker(this.docker, err, `starting a container from ${this.cfg.image}`);
    }
    this.runners = new RunnerPool(container, this.docker);
    try {
      // The first command should not pay for opening a runner.
      await this.runners.warm();
    } catch (err) {
      throw fromDocker(this.docker, err, `running a shell in ${this.cfg.image} (the image needs /bin/sh)`);
    }
  }

  async exec(command: string, opts: ExecOptions): Promise<ExecResult> {
    await this.start();
    const runners = this.runners;
    if (!runners) throw new SandboxError('this session sandbox has been closed', 'unavailable');
    try {
      return await runners.run(command, opts, this.cfg.max_output_bytes);
    } catch (err) {
      throw fromDocker(this.docker, err, 'running a command in the container');
    }
  }

  spawn(req: SpawnRequest): SandboxProcess {
    const container = this.container;
    const started = this.start().then(() => {
      if (!this.container) throw new SandboxError('this session sandbox has been closed', 'unavailable');
    });
    // The container exists once start() settles; the process waits for that and for req.ready.
    const handle = container ?? this.docker.getContainer(containerName(this.sessionId));
    return new ContainerProcess(handle, this.docker, { ...req, ready: Promise.all([started, req.ready]) });
  }

  resolve(relPath: string): string {
    return this.files.resolve(relPath);
  }

  readFile(relPath: string): Promise<string> {
    return this.files.read(relPath);
  }

  writeFile(relPath: string, content: string): Promise<void> {
    return this.files.write(relPath, content);
  }

  list(relPath: string, depth: number): Promise<DirEntry[]> {
    return this.files.list(relPath, depth);
  }

  async close(): Promise<void> {
    this.closed = true;
    // A failed start was already thrown to start()'s caller: closing goes on.
    await this.starting?.catch(() => undefined);
    this.runners?.close();
    this.runners = undefined;
    const container = this.container;
    this.container = undefined;
    if (!container) return;
    try {
      await container.remove({ force: true, v: true });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return;
      throw fromDocker(this.docker, err, 'removing the container');
    }
  }
}
