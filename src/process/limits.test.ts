import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { limitHint, machineLimits, withLimitHint } from './limits.js';

/** A real EMFILE: a node process whose open-file limit is 32 opens files until it is refused. */
function realEmfile(): NodeJS.ErrnoException {
  const out = execFileSync('prlimit', [
    '--nofile=32:32',
    '--',
    process.execPath,
    '-e',
    "const fs=require('fs');try{for(;;)fs.openSync('/dev/null','r')}catch(e){process.stdout.write(JSON.stringify({code:e.code,message:e.message}))}",
  ]).toString();
  const { code, message } = JSON.parse(out) as { code: string; message: string };
  return Object.assign(new Error(message), { code });
}

describe('limitHint', () => {
  it('names the open-file limit, its value and how to raise it for a real EMFILE, also as a cause', () => {
    const err = realEmfile();
    expect(err.code).toBe('EMFILE');
    const hint = limitHint(new Error('the session could not start', { cause: err }));
    expect(hint).toMatch(
      /open-file limit is reached \((\d+|unlimited) descriptors\): raise it with `ulimit -n` or LimitNOFILE=/,
    );
    expect(withLimitHint('copying the workspace failed', err)).toMatch(
      /^copying the workspace failed \(this process's open-file limit/,
    );
  });

  it('reads EMFILE from inotify as the instance limit and ENOSPC as the watch limit, with the sysctl', () => {
    const emfile = Object.assign(new Error('EMFILE: too many open files, watch'), { code: 'EMFILE' });
    const enospc = Object.assign(new Error('ENOSPC: System limit for number of file watchers reached, watch'), {
      code: 'ENOSPC',
    });
    const limits = machineLimits();
    expect(limitHint(emfile, 'watch')).toContain(
      `fs.inotify.max_user_instances is ${limits['fs.inotify.max_user_instances']}`,
    );
    expect(limitHint(enospc, 'watch')).toContain(
      `fs.inotify.max_user_watches is ${limits['fs.inotify.max_user_watches']}`,
    );
    // A full disk is not a watch limit: that has its own handling.
    expect(limitHint(enospc)).toBeNull();
  });

  it('names the process limit for a spawn refused with EAGAIN, even relayed as text by the process host', () => {
    expect(limitHint(new Error('spawn bash EAGAIN'))).toMatch(/ulimit -u.*kernel\.pid_max/);
    expect(limitHint(Object.assign(new Error('read EAGAIN'), { code: 'EAGAIN' }))).toBeNull();
    expect(limitHint(new Error('ENOENT: no such file'))).toBeNull();
    expect(withLimitHint('plain', new Error('nothing to see'))).toBe('plain');
  });
});
