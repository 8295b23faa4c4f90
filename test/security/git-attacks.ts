/**
 * @module test/security/git-attacks
 * One scripted agent that tries, in many ways, to get a command run on the host through the
 * workspace's git repository: program-running config keys, includes, hooks, attributes with
 * filter/diff/merge drivers, a replaced `.git` directory, a `.git` symlink, a `.git` file
 * pointing elsewhere, fake commondir and alternates, a nested repository with all of that, and
 * (where the sandbox lets it) writing straight into the checkpoint repository the `.git` file
 * names. Every payload would write the environment of whoever runs it into a marker file on the
 * host. Shell only (printf, mkdir, ln): it runs the same in the local sandbox and in a busybox
 * container. Shared by the local (test/security) and Docker (test/docker) tests.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { type Engine, ended, waitForEvent } from '../engine/harness.js';

export const SECRET = 'sk-potato-test-secret-7f3a';

/** A git config that names `payload(key)` everywhere git could run a program. */
function evilConfig(payload: (key: string) => string): string {
  const p = (k: string) => `"${payload(k)}"`;
  return [
    '[core]',
    `\tfsmonitor = ${p('core.fsmonitor')}`,
    `\tsshCommand = ${p('core.sshCommand')}`,
    `\tpager = ${p('core.pager')}`,
    `\teditor = ${p('core.editor')}`,
    `\taskPass = ${p('core.askPass')}`,
    `\tgitProxy = ${p('core.gitProxy')}`,
    `\talternateRefsCommand = ${p('core.alternateRefsCommand')}`,
    '\thooksPath = hooks',
    '[filter "evil"]',
    `\tclean = ${p('filter.clean')}`,
    `\tsmudge = ${p('filter.smudge')}`,
    `\tprocess = ${p('filter.process')}`,
    '\trequired = true',
    '[diff "evil"]',
    `\ttextconv = ${p('diff.textconv')}`,
    `\tcommand = ${p('diff.command')}`,
    '[diff]',
    `\texternal = ${p('diff.external')}`,
    '[merge "evil"]',
    `\tdriver = ${p('merge.driver')}`,
    '[credential]',
    `\thelper = "!${payload('credential.helper')}"`,
    '[gpg]',
    `\tprogram = ${p('gpg.program')}`,
    '[sequence]',
    `\teditor = ${p('sequence.editor')}`,
    '[uploadpack]',
    `\tpackObjectsHook = ${p('uploadpack.packObjectsHook')}`,
    '[include]',
    '\tpath = ../evil-include.cfg',
    '[includeIf "gitdir:**"]',
    '\tpath = ../evil-include.cfg',
    '[alias]',
    `\tstatus = "!${payload('alias')}"`,
    '',
  ].join('\n');
}

const HOOKS = [
  'post-checkout',
  'pre-commit',
  'post-commit',
  'post-index-change',
  'reference-transaction',
  'pre-auto-gc',
  'post-rewrite',
  'fsmonitor-watchman',
];

/** Shell-quote for a single-quoted printf argument. */
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Commands that make `dir` (relative to the workspace) a repository that runs payloads everywhere. */
function evilRepo(dir: string, payload: (key: string) => string): string {
  const hooks = HOOKS.map(
    (h) => `printf '%s\\n' '#!/bin/sh' ${sq(payload(`hook.${h}`))} > ${dir}/hooks/${h} && chmod +x ${dir}/hooks/${h}`,
  );
  return [
    `mkdir -p ${dir}/objects/info ${dir}/refs/heads ${dir}/hooks ${dir}/info`,
    `printf 'ref: refs/heads/main\\n' > ${dir}/HEAD`,
    `printf '%s' ${sq(evilConfig(payload))} > ${dir}/config`,
    `printf '* filter=evil diff=evil merge=evil\\n' > ${dir}/info/attributes`,
    `printf '/tmp\\n' > ${dir}/objects/info/alternates`,
    `printf '.\\n' > ${dir}/commondir`,
    ...hooks,
  ].join(' && ');
}

export interface GitAttack {
  /** Bash commands for the scripted agent, one step each. */
  commands: string[];
  /** Marker files that exist: empty when no payload ever ran. */
  markers(): string[];
}

/**
 * The attack. `markerDir` is a host folder; payloads write `env` there. `tamperServerRepo`
 * adds a step that writes the same into the checkpoint repository named by `.git` (which the
 * Docker sandbox mounts read-only, and the local sandbox cannot protect).
 */
export function gitAttack(markerDir: string): GitAttack {
  // `;:` swallows the arguments git appends (fsmonitor gets a version and a token).
  const payload = (key: string) => `env > ${join(markerDir, `ran-${key}`)};:`;
  const include = sq(evilConfig((k) => payload(`include.${k}`)));
  const commands = [
    // 1. Straight into the checkpoint repository the .git file names (read-only in Docker).
    [
      `G=$(sed -n 's/^gitdir: //p' .git)`,
      `printf '%s' ${sq(evilConfig((k) => payload(`server.${k}`)))} >> "$G/config"`,
      `mkdir -p "$G/hooks"`,
      ...HOOKS.map((h) => `printf '#!/bin/sh\\n%s\\n' ${sq(payload(`server.hook.${h}`))} > "$G/hooks/${h}"`),
      `chmod +x "$G"/hooks/*`,
      `printf '* filter=evil diff=evil merge=evil\\n' >> "$G/info/attributes"`,
      'echo tampered-server-repo',
    ].join('; '),
    // 2. Attributes and config files in the work tree.
    [
      `printf '* filter=evil diff=evil merge=evil ident\\n*.txt text eol=crlf\\n' > .gitattributes`,
      `printf '%s' ${include} > evil-include.cfg`,
      `printf '%s' ${sq(evilConfig((k) => payload(`gitconfig.${k}`)))} > .gitconfig`,
      `printf '%s' ${sq(evilConfig((k) => payload(`lfsconfig.${k}`)))} > .lfsconfig`,
      'printf "changed\\r\\n" > notes.txt',
    ].join(' && '),
    // 3. Replace the .git file with a repository of the agent's own.
    `rm -f .git && ${evilRepo('.git', (k) => payload(`dotgit.${k}`))} && printf 'x\\n' >> README.md`,
    // 4. A nested repository with the same.
    `mkdir -p sub && ${evilRepo('sub/.git', (k) => payload(`nested.${k}`))} && printf 'in sub\\n' > sub/file.txt`,
    // 5. .git as a symlink to an evil repository in the workspace.
    `${evilRepo('evilrepo', (k) => payload(`symlink.${k}`))} && rm -rf .git && ln -s evilrepo .git && printf 'y\\n' >> README.md`,
    // 6. .git as a file pointing at it.
    `rm -rf .git && printf 'gitdir: evilrepo\\n' > .git && printf 'z\\n' >> README.md`,
  ];
  return {
    commands,
    markers: () => (existsSync(markerDir) ? readdirSync(markerDir) : []),
  };
}

function userGit(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=U', '-c', 'user.email=u@example.com', ...args], {
    cwd,
    encoding: 'utf8',
  });
}

/**
 * Runs the attack in an engine built by `makeEngine`; shared with the Docker test. `serverRepo`:
 * what the agent's attempt to write the checkpoint repository prints in this sandbox.
 */
export async function runGitAttack(
  makeEngine: (script: object) => Promise<Engine>,
  markers: string,
  serverRepo: RegExp,
  /** Waits until an ended session's parts are released (Docker removes its container). */
  settle: (sessionId: string) => Promise<void> = async () => {},
): Promise<Engine> {
  process.env.POTATO_TEST_SECRET = SECRET;
  const attack = gitAttack(markers);
  const e = await makeEngine({
    turns: [...attack.commands.map((command) => ({ tool_calls: [{ bash_command: { command } }] })), { text: 'done' }],
    on_instruction: [
      {
        when: 'again',
        turns: [{ tool_calls: [{ bash_command: { command: `printf 'b\\n' > b.txt` } }] }, { text: 'done again' }],
      },
    ],
  });
  // The user's folder is a repository with history, as it usually is.
  const userRepo = join(e.dir, 'repo');
  userGit(userRepo, 'init', '-q', '-b', 'main');
  userGit(userRepo, 'add', '-A');
  userGit(userRepo, 'commit', '-qm', 'user history');
  const userHead = userGit(userRepo, 'rev-parse', 'HEAD').trim();

  const s = await e.manager.start({ task: 'try the host', annotator: 'ann' });
  await waitForEvent(e, s.id, ended, 120_000);
  const first = (await e.store.getSession(s.id))!;
  expect(first.status, first.end_reason ?? '').toBe('finished');
  const steps = await e.store.listSteps(s.id);
  const shells = steps.filter((st) => st.type === 'bash_command').map((st) => st.payload);
  expect(shells).toHaveLength(attack.commands.length);
  for (const [i, p] of shells.entries()) {
    if (p.type !== 'bash_command') throw new Error('expected a shell step');
    // Writing the checkpoint repository: refused (read-only mount; private to a root server) or done.
    if (i === 0) expect(p.output).toMatch(serverRepo);
    // Attributes, config files and a nested repository are always the agent's to write; replacing
    // `.git` may be refused by the sandbox (the local sandbox's sticky workspace), which is fine too.
    if (i === 1 || i === 3) expect(p.exit_code, p.output).toBe(0);
  }
  const step2 = steps.find((st) => st.step_idx === 2)!;
  const before = e.requests.length;
  // An ended session may have released its parts (Docker does at once): reopen, as the UI does.
  await settle(s.id);
  const live = await e.manager.reopen(s.id);
  await live.rollback({ toStepId: step2.id, reason: 'try again', instruction: 'again', annotator: 'ann' });
  await waitForEvent(
    e,
    s.id,
    (ev) => ev.type === 'session' && ev.session.status === 'finished' && e.requests.length > before + 1,
    120_000,
  );
  // Session end: the stores close (index written, `.git` pointer put back).
  await e.manager.shutdown();

  const ws = (await e.store.getSession(s.id))!.workspace;
  const gitDir = join(e.config.output.path, 'checkpoints', s.id);
  expect(readFileSync(join(ws, '.git'), 'utf8')).toBe(`gitdir: ${gitDir}\n`);
  // What the server owns is its own again: no hooks, no config or attributes from the agent.
  expect(existsSync(join(gitDir, 'hooks'))).toBe(false);
  expect(readFileSync(join(gitDir, 'config'), 'utf8')).not.toContain('evil');
  expect(readFileSync(join(gitDir, 'info', 'attributes'), 'utf8')).not.toContain('evil');
  // The user's folder was never written.
  expect(userGit(userRepo, 'rev-parse', 'HEAD').trim()).toBe(userHead);
  expect(existsSync(join(userRepo, '.git', 'hooks', 'post-checkout'))).toBe(false);

  // A user looks at the result with their own git.
  const log = userGit(ws, 'log', '--oneline');
  expect(log).toContain('Step 0: Initial state');
  expect(log).toContain('user history');
  userGit(ws, 'status', '--porcelain');
  userGit(ws, 'diff', 'HEAD~1');
  userGit(ws, 'log', '-p', '-3');
  // The branch the agent continued on holds the rollback and the new step.
  expect(userGit(ws, 'show', 'HEAD:b.txt')).toBe('b\n');

  expect(attack.markers()).toEqual([]);
  return e;
}
