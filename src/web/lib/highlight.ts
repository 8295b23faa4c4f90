/**
 * @module web/lib/highlight
 * Syntax highlighting with highlight.js, only the languages an agent's workspace usually
 * holds (a small bundle). Results are cached: a virtualised list re-mounts blocks as they
 * scroll back into view, and highlighting the same file twice is wasted work.
 */
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import diff from 'highlight.js/lib/languages/diff';
import dockerfile from 'highlight.js/lib/languages/dockerfile';
import go from 'highlight.js/lib/languages/go';
import ini from 'highlight.js/lib/languages/ini';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import makefile from 'highlight.js/lib/languages/makefile';
import markdown from 'highlight.js/lib/languages/markdown';
import python from 'highlight.js/lib/languages/python';
import ruby from 'highlight.js/lib/languages/ruby';
import rust from 'highlight.js/lib/languages/rust';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';

const languages = {
  bash,
  c,
  cpp,
  css,
  diff,
  dockerfile,
  go,
  ini,
  java,
  javascript,
  json,
  makefile,
  markdown,
  python,
  ruby,
  rust,
  sql,
  typescript,
  xml,
  yaml,
};
for (const [name, lang] of Object.entries(languages)) hljs.registerLanguage(name, lang);

/** Above this size highlighting costs more than it helps; the text is shown plain. */
const MAX_HIGHLIGHT_CHARS = 200_000;
const cache = new Map<string, string>();

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** HTML for `code`: highlighted when the language is known, escaped text otherwise. */
export function highlight(code: string, language: string | undefined): string {
  if (!language || !hljs.getLanguage(language) || code.length > MAX_HIGHLIGHT_CHARS) return escapeHtml(code);
  const key = `${language}\u0000${code}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const html = hljs.highlight(code, { language, ignoreIllegals: true }).value;
  if (cache.size > 500) cache.delete(cache.keys().next().value!);
  cache.set(key, html);
  return html;
}
