/**
 * @module backends/usage
 * Token counts in the Messages API's shape (the Anthropic backend's stream events and the Claude
 * Agent SDK's messages) as a TokenUsage: input, output, cache writes and cache reads apart.
 */
import type { TokenUsage } from '../steps/types.js';

/** Anthropic-shaped usage: every count may be null or absent (message_delta reports what changed). */
export interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/**
 * Takes every count `u` reports over `prev` (null or absent: keep what we had). The counts are
 * cumulative for the message, so the latest report replaces the earlier one.
 */
export function mergeUsage(prev: TokenUsage, u: AnthropicUsage): TokenUsage {
  const out: TokenUsage = { ...prev };
  if (typeof u.input_tokens === 'number') out.input_tokens = u.input_tokens;
  if (typeof u.output_tokens === 'number') out.output_tokens = u.output_tokens;
  if (typeof u.cache_creation_input_tokens === 'number')
    out.cache_creation_input_tokens = u.cache_creation_input_tokens;
  if (typeof u.cache_read_input_tokens === 'number') out.cache_read_input_tokens = u.cache_read_input_tokens;
  return out;
}

export const fromAnthropicUsage = (u: AnthropicUsage): TokenUsage =>
  mergeUsage({ input_tokens: 0, output_tokens: 0 }, u);
