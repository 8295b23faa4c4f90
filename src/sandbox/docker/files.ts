/**
 * @module sandbox/docker/files
 * File reads, writes and listings for the Docker sandbox go straight to the host side of the
 * bind mounts (no exec round trip), confined like the local sandbox (sandbox/paths.ts): `..`
 * and symlinks that lead out are refused, which matters here because a link the agent makes
 * inside the container would otherwise be followed on the host.
 */
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { confinePath, realWorkspace } from '../paths.js';
import type { DirEntry } from '../types.js';
import { SandboxError } from '../types.js';
import { CONTAINER_WORKSPACE, type Volume } from './container.js';

/** A host folder seen at `prefix` (workspace-relative, '' for the workspace itself). */
interface Root {
  prefix: string;
  host: string;
  real?: string;
}

export class WorkspaceFiles {
  private readonly roots: Root[];

  constructor(workspace: string, volumes: Volume[]) {
    const mounted = volumes
      .filter((v) => v.container.startsWith(`${CONTAINER_WORKSPACE}/`))
      .map((v) => ({ prefix: v.container.slice(CONTAINER_WORKSPACE.length + 1), host: v.host }));
    // Longest prefix first so /workspace/repo/sub wins over /workspace/repo.
    this.roots = [...mounted, { prefix: '', host: path.resolve(workspace) }].sort(
      (a, b) => b.prefix.length - a.prefix.length,
    );
  }

  /** The agent sees the workspace at /workspace in the container; accept that spelling too. */
  private split(relPath: string): { root: Root; rest: string } {
    let p = relPath;
    if (p === CONTAINER_WORKSPACE || p.startsWith(`${CONTAINER_WORKSPACE}/`)) {
      p = p.slice(CONTAINER_WORKSPACE.length + 1) || '.';
    }
    const lexical = path.posix.normalize(p);
    for (const root of this.roots) {
      if (root.prefix === '') return { root, rest: p };
      if (lexical === root.prefix || lexical.startsWith(`${root.prefix}/`)) {
        return { root, rest: lexical.slice(root.prefix.length + 1) || '.' };
      }
    }
    throw new Error('unreachable: the workspace root matches every path');
  }

  private realRoot(root: Root): string {
    root.real ??= realWorkspace(root.host);
    return root.real;
  }

  /** Absolute host path for a workspace path; throws SandboxError when it leads outside. */
  resolve(relPath: string): string {
    const { root, rest } = this.split(relPath);
    return confinePath(root.host, this.realRoot(root), rest);
  }

  async read(relPath: string): Promise<string> {
    const file = this.resolve(relPath);
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw ioError(err, relPath);
    }
  }

  async write(relPath: string, content: string): Promise<void> {
    const file = this.resolve(relPath);
    try {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, content, 'utf8');
    } catch (err) {
      throw ioError(err, relPath);
    }
  }

  /** Entries below relPath, `depth` levels further down (0: its children only), sorted, no .git. */
  async list(relPath: string, depth: number): Promise<DirEntry[]> {
    const start = this.resolve(relPath);
    const info = await stat(start).catch((err) => {
      throw ioError(err, relPath);
    });
    if (!info.isDirectory()) throw new SandboxError(`${relPath} is a file, not a directory`, 'io');
    const main = (this.roots[this.roots.length - 1] as Root).host;
    const { root } = this.split(relPath);
    const base = root.host;
    const toRel = (abs: string) => {
      const inRoot = path.relative(base, abs).split(path.sep).join('/');
      return root.prefix === '' ? path.relative(main, abs).split(path.sep).join('/') : `${root.prefix}/${inRoot}`;
    };
    const out: DirEntry[] = [];
    const walk = async (dir: string, level: number): Promise<void> => {
      // An unreadable or vanished folder lists as empty, as the agent's own ls would show nothing.
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        // Git's own files are the checkpoint store's business, not part of the agent's view.
        if (e.name === '.git') continue;
        const abs = path.join(dir, e.name);
        if (e.isSymbolicLink()) out.push({ path: toRel(abs), type: 'symlink' });
        else if (e.isDirectory()) {
          out.push({ path: `${toRel(abs)}/`, type: 'dir' });
          if (level < depth) await walk(abs, level + 1);
        } else out.push({ path: toRel(abs), type: 'file' });
      }
    };
    await walk(start, 0);
    return out;
  }
}

function ioError(err: unknown, relPath: string): SandboxError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const cause = { cause: err };
  if (code === 'ENOENT') return new SandboxError(`${relPath} does not exist in the workspace`, 'not_found', cause);
  if (code === 'EISDIR') return new SandboxError(`${relPath} is a directory, not a file`, 'io', cause);
  if (code === 'ENOTDIR') return new SandboxError(`a parent of ${relPath} is a file, not a directory`, 'io', cause);
  const message = err instanceof Error ? err.message : String(err);
  return new SandboxError(`cannot access ${relPath}: ${message}`, 'io', cause);
}
