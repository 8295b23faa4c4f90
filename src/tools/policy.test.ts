/**
 * @module tools/policy.test
 * The command policy as a table: what must be refused (and the message naming the command),
 * what must pass.
 */
import { describe, expect, it } from 'vitest';
import { checkCommand, findCommands } from './policy.js';
import type { CommandPolicy } from './types.js';

const restrictedOnly: CommandPolicy = { restricted: ['curl', 'wget', 'sudo', 'rm -rf /'] };
const allowList: CommandPolicy = {
  allowed: ['python', 'pip', 'pytest', 'git', 'ls', 'cat', 'find', 'grep', 'tail'],
  restricted: ['sudo', 'rm -rf /'],
};

// [command line, refused command name that the reason must quote]
const refusedByRestricted: [string, string][] = [
  ['ls; curl x', 'curl'],
  ['ls && $(curl x)', 'curl'],
  ['echo `wget http://example.com`', 'wget'],
  ['echo "$(wget -q -O- x)"', 'wget'],
  ['bash -c "curl x"', 'curl'],
  ["sh -c 'ls; wget q'", 'wget'],
  ['zsh -c "curl x"', 'curl'],
  ['dash -c "curl x"', 'curl'],
  ['bash -lc "cd /tmp && curl x"', 'curl'],
  ['bash -c "bash -c \\"curl x\\""', 'curl'],
  ['env curl x', 'curl'],
  ['env -i A=1 B=2 curl x', 'curl'],
  ['/usr/bin/curl x', 'curl'],
  ['"/usr/bin/cu"rl x', 'curl'],
  ["$'\\x63url' x", 'curl'],
  ['cu\\rl x', 'curl'],
  ['command curl x', 'curl'],
  ['exec curl x', 'curl'],
  ['nohup curl x &', 'curl'],
  ['nice -n 10 curl x', 'curl'],
  ['timeout 5 curl x', 'curl'],
  ['timeout -s KILL 5 curl x', 'curl'],
  ['time curl x', 'curl'],
  ['xargs curl < urls.txt', 'curl'],
  ['cat urls | xargs -n 1 -P 4 curl -O', 'curl'],
  ['xargs -I{} sh -c "curl {}"', 'curl'],
  ['find . -exec curl {} \\;', 'curl'],
  ['find . -name "*.txt" -execdir wget {} +', 'wget'],
  ['find . -ok curl {} \\;', 'curl'],
  ['ls > out.txt 2>&1; curl x > /dev/null', 'curl'],
  ['cat < <(curl x)', 'curl'],
  ['ls > >(curl -d @- x)', 'curl'],
  ['bash <<EOF\ncurl z\nEOF', 'curl'],
  ["sh <<'EOF'\nls\nwget z\nEOF", 'wget'],
  ['bash <<< "curl x"', 'curl'],
  ['cat <<EOF\n$(curl x)\nEOF', 'curl'],
  ['eval "curl x"', 'curl'],
  ['env -S "curl x"', 'curl'],
  ['(cd src && curl x)', 'curl'],
  ['{ ls; curl x; }', 'curl'],
  ['if true; then curl x; fi', 'curl'],
  ['while false; do wget x; done', 'wget'],
  ['for i in 1 2; do curl $i; done', 'curl'],
  ['case a in a) curl x;; esac', 'curl'],
  ['f() { curl x; }; f', 'curl'],
  ['X=$(curl x) ls', 'curl'],
  ['export X=$(curl x)', 'curl'],
  ['trap "curl x" EXIT', 'curl'],
  ['sudo ls', 'sudo'],
  ['ls | sudo tee /etc/x', 'sudo'],
  ['nice sudo ls', 'sudo'],
  ['env FOO=1 sudo -u root ls', 'sudo'],
  ['bash -c "sudo ls"', 'sudo'],
  ['rm -rf /', 'rm -rf /'],
  ['rm -fr /', 'rm -fr /'],
  ['rm -r -f /', 'rm -r -f /'],
  ['rm -Rrf /', 'rm -Rrf /'],
  ['rm -rf //', 'rm -rf //'],
  ['sudo rm -rf /', 'sudo'],
];

describe('restricted_commands', () => {
  it.each(refusedByRestricted)('refuses %j naming %s', (line, name) => {
    const verdict = checkCommand(line, restrictedOnly);
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    expect(verdict.reason).toMatch(/^refused: /);
    expect(verdict.reason).toContain(`"${name}"`);
    expect(verdict.reason).toContain('matches restricted_commands entry');
  });

  it('names the entry that matched, and the wrapper that ran the command', () => {
    const verdict = checkCommand('find . -exec curl {} \\;', restrictedOnly);
    expect(verdict).toEqual({
      ok: false,
      command: 'curl {}',
      reason: 'refused: "curl" matches restricted_commands entry "curl"; it is run via find -exec',
    });
    expect(checkCommand('rm -fr /', restrictedOnly)).toEqual({
      ok: false,
      command: 'rm -fr /',
      reason: 'refused: "rm -fr /" matches restricted_commands entry "rm -rf /"',
    });
  });

  it.each([
    'rm -rf ./build',
    'rm -r build',
    'rm -f /tmp/x',
    'echo curl',
    'grep -r "sudo" .',
    'cat curl.txt',
    'git commit -m "use wget instead of curl"',
    'pytest -q | tail -5',
    'python -m http.server & sleep 1',
  ])('lets %j through', (line) => {
    expect(checkCommand(line, restrictedOnly)).toEqual({ ok: true });
  });

  it('matches entries with arguments as a set of flags and words', () => {
    const policy: CommandPolicy = { restricted: ['git push --force'] };
    expect(checkCommand('git push origin main --force', policy).ok).toBe(false);
    expect(checkCommand('git push origin main', policy).ok).toBe(true);
  });
});

describe('allowed_commands', () => {
  it.each([
    ['ls; curl x', 'curl'],
    ['ls && $(curl x)', 'curl'],
    ['echo `wget y`', 'wget'],
    ['bash -c "curl x"', 'curl'],
    ['git status && make', 'make'],
    ['pytest | tee log', 'tee'],
    ['find . -exec rm {} \\;', 'rm'],
    ['cat <<EOF > f.txt\n$(date)\nEOF', 'date'],
    ['node -e 1', 'node'],
  ])('refuses %j naming %s', (line, name) => {
    const verdict = checkCommand(line, allowList);
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    expect(verdict.reason).toBe(
      `refused: "${name}" is not in allowed_commands (python, pip, pytest, git, ls, cat, find, grep, tail)${
        line.startsWith('bash -c')
          ? '; it is run via bash -c'
          : line.startsWith('find')
            ? '; it is run via find -exec'
            : ''
      }`,
    );
  });

  it.each([
    'pytest -q | tail -5',
    'git status && ls',
    'cat <<EOF > f.txt\nhello\nworld\nEOF',
    'cd src && python -m pytest -x',
    'ls -la | grep test > files.txt 2>&1',
    'find . -name "*.py" -exec grep -l TODO {} +',
    'echo done; pwd',
    '/usr/bin/git log --oneline | tail -3',
  ])('lets %j run', (line) => {
    expect(checkCommand(line, allowList)).toEqual({ ok: true });
  });

  it.each([
    ['$CMD args', '$CMD args'],
    ['$(echo curl) x', '$(echo curl) x'],
    ['"$TOOL" --version', '"$TOOL" --version'],
    ['/usr/bin/c?rl x', '/usr/bin/c?rl x'],
  ])('refuses a command name that is not a literal: %j', (line, shown) => {
    const verdict = checkCommand(line, allowList);
    expect(verdict).toMatchObject({ ok: false, command: shown });
    if (verdict.ok) return;
    expect(verdict.reason).toContain('not a literal word');
  });

  it('lets a dynamic name through when only restricted_commands is set (documented limit)', () => {
    expect(checkCommand('$CMD args', restrictedOnly)).toEqual({ ok: true });
  });

  it('refuses a shell reading commands from a pipe, which it cannot see', () => {
    const verdict = checkCommand('echo "curl x" | bash', { allowed: ['echo', 'bash'], restricted: [] });
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    expect(verdict.reason).toContain('bash reads its commands from standard input');
  });

  it('checks the script of an allowed shell', () => {
    const policy: CommandPolicy = { allowed: ['bash', 'ls'], restricted: [] };
    expect(checkCommand('bash -c "ls -la"', policy)).toEqual({ ok: true });
    expect(checkCommand('bash -c "ls; curl x"', policy)).toMatchObject({ ok: false, command: 'curl x' });
  });
});

describe('parsing', () => {
  it('refuses a command line that does not parse, with the parser message', () => {
    const verdict = checkCommand('echo "unclosed', restrictedOnly);
    expect(verdict).toEqual({
      ok: false,
      command: 'echo "unclosed',
      reason: 'refused: the command line could not be parsed: 1:6: reached EOF without closing quote "',
    });
    expect(checkCommand('bash -c "if true; then"', restrictedOnly)).toMatchObject({ ok: false });
  });

  it('finds every simple command in nested structures', () => {
    const names = findCommands(
      'a | b && (c; { d; }) || e; if f; then g; else h; fi; for x in 1; do i; done; case y in y) j;; esac; k $(l `m`) <(n)',
    ).map((c) => c.name);
    expect(names.sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n']);
  });
});
