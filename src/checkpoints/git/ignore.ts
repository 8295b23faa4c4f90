/**
 * @module checkpoints/git/ignore
 * Whether new paths are ignored, answered by git itself (one long-lived
 * `git check-ignore --stdin -z -v -n --no-index`), so .gitignore files at every level and the
 * repository's info/exclude mean exactly what they mean to `git add -A`. The process is sealed
 * (git.ts): no global excludes file, nothing the workspace says is run.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { type SealedGitOptions, spawnGit } from './git.js';

interface Waiter {
  resolve: (ignored: boolean) => void;
  reject: (e: Error) => void;
}

export class IgnoreChecker {
  private child: ChildProcessWithoutNullStreams | null = null;
  private queue: Waiter[] = [];
  private fields: string[] = [];
  private partial = '';

  constructor(private readonly where: SealedGitOptions) {}

  /** One answer per path, in order: true when git would leave the path out of `git add -A`. */
  check(paths: string[]): Promise<boolean[]> {
    if (paths.length === 0) return Promise.resolve([]);
    const child = this.ensure();
    if (child instanceof Promise) return child;
    const answers = paths.map(
      (p) =>
        new Promise<boolean>((resolve, reject) => {
          this.queue.push({ resolve, reject });
          child.stdin.write(`${p}\0`);
        }),
    );
    return Promise.all(answers);
  }

  /** .gitignore files are read once per process: start afresh after one of them changed. */
  restart(): void {
    this.close();
  }

  close(): void {
    if (!this.child) return;
    const child = this.child;
    this.child = null;
    child.stdin.end();
    const err = new Error('ignore checker restarted');
    for (const w of this.queue.splice(0)) w.reject(err);
    this.fields = [];
    this.partial = '';
  }

  /** The running checker, or the failure to start one (a rejected promise). */
  private ensure(): ChildProcessWithoutNullStreams | Promise<never> {
    if (this.child) return this.child;
    const child = spawnGit(['check-ignore', '--stdin', '-z', '-v', '-n', '--no-index'], this.where);
    // Out of descriptors (EMFILE/ENFILE), Node makes no pipes and reports the error on the next tick.
    if (!child.stdout || !child.stdin) {
      return new Promise<never>((_, reject) =>
        child.once('error', (err) => reject(new Error('git check-ignore could not start', { cause: err }))),
      );
    }
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (this.child !== child) return;
      const parts = (this.partial + chunk).split('\0');
      this.partial = parts.pop()!;
      for (const f of parts) {
        this.fields.push(f);
        if (this.fields.length === 4) {
          const [source, , pattern] = this.fields;
          this.fields = [];
          // With -v -n every path gets a record; a matching "!pattern" re-includes the path.
          this.queue.shift()?.resolve(source !== '' && !pattern!.startsWith('!'));
        }
      }
    });
    const fail = (err: Error) => {
      if (this.child !== child) return;
      this.child = null;
      for (const w of this.queue.splice(0)) w.reject(err);
    };
    child.on('error', fail);
    child.on('exit', (code) => fail(new Error(`git check-ignore exited (${code})`)));
    child.stdin.on('error', fail);
    this.child = child;
    return child;
  }
}
