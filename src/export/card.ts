/**
 * @module export/card
 * The dataset card: a README.md beside the exported files, as the Hugging Face Hub reads it
 * (YAML front matter with one `configs` entry per file), saying what each file holds, how many
 * lines, which trainer it is for, how the preferences and labels were made, the export options
 * and the config with secrets masked, and how to load it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { maskSecrets } from './provenance.js';
import { type ExportFormat, type ExportOptions, withDefaults } from './types.js';

export interface CardFile {
  format: ExportFormat;
  /** Relative to the card. */
  file: string;
  lines: number;
  /** A glob of per-session shards, when there are any. */
  shards?: string;
}

export interface CardInput {
  files: CardFile[];
  sessions: number;
  options: ExportOptions;
  config?: unknown;
}

const PURPOSE: Record<ExportFormat, string> = {
  trajectories: 'every branch (or session tree) with its steps, interventions and outcome',
  branch_preferences: 'rejected vs chosen steps at each branch point',
  prm_from_branches: 'every path with a label per step (process reward)',
  code_review: 'annotator instructions and rollback reasons with the code they answer',
  dpo: 'TRL DPOTrainer / RewardTrainer (conversational preference; whole segments, tool output in the completions)',
  dpo_step: 'TRL DPOTrainer / RewardTrainer (conversational preference; first assistant turn of each side only)',
  prm_stepwise: 'TRL PRMTrainer (stepwise supervision)',
};

const RULES = `- A pair compares the two sides of one branch point, each from the point to the next branch
  point or its end: the old branch's side is rejected, the side the annotator kept is chosen.
  No step is both chosen and rejected in one export.
- Step labels: steps kept by a rollback and chosen sides are correct; the first step of a
  rejected side, or the first step a rollback without a branch threw away, is the first error;
  the annotator's own labels win (with who and when); nothing after the first error on a path is
  labelled.
- A pair is left out when the labels disagree with it (an incorrect step on the chosen side, none
  on the rejected side) or, with \`outcome_order\`, the rejected branch has the better outcome.
- Every string is redacted for credentials and the workspace path is made relative.
- Every line has a stable \`id\` and a \`provenance\` object (session, annotator, backend and its
  settings without secrets, system prompt hash, times, status and end reason, base commit, final
  diff and last test exit code of the branch).`;

export function renderCard(input: CardInput): string {
  const configs = input.files.map((f) => `- config_name: ${f.format}\n  data_files: ${JSON.stringify(f.file)}`);
  const rows = input.files.map(
    (f) =>
      `| \`${f.format}\` | \`${f.file}\`${f.shards ? ` (per session: \`${f.shards}\`)` : ''} | ${f.lines} | ${PURPOSE[f.format]} |`,
  );
  const first = input.files[0];
  const load = first
    ? `from datasets import load_dataset

# one file
ds = load_dataset("json", data_files="${first.file}", split="train")
# or, from the folder holding this card, by config name
ds = load_dataset("path/to/this/folder", "${first.format}", split="train")`
    : 'from datasets import load_dataset';
  const parts = [
    `---\npretty_name: Potato Live export\nconfigs:\n${configs.join('\n')}\n---`,
    '# Potato Live export',
    `${input.sessions} session${input.sessions === 1 ? '' : 's'} exported.`,
    `| format | file | lines | for |\n|---|---|---|---|\n${rows.join('\n')}`,
    '## Loading',
    `\`\`\`python\n${load}\n\`\`\``,
    'In `dpo` and `dpo_step`, `tools` is a JSON string (TRL parses it); tool-call `arguments` are objects.',
    '## Labelling rules',
    RULES,
    '## Export options',
    `\`\`\`json\n${JSON.stringify(withDefaults(input.options), null, 2)}\n\`\`\``,
  ];
  if (input.config !== undefined) {
    parts.push(
      '## Config (secrets masked)',
      `\`\`\`json\n${JSON.stringify(maskSecrets(input.config), null, 2)}\n\`\`\``,
    );
  }
  return `${parts.join('\n\n')}\n`;
}

/** Write README.md into `dir` (temporary file and rename, like every export file). */
export function writeCard(dir: string, input: CardInput): string {
  const file = path.join(dir, 'README.md');
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, renderCard(input));
  fs.renameSync(tmp, file);
  return file;
}
