/**
 * @module backends/anthropic/messages
 * The conversation in the Messages API's shape: user turns carry text and tool_result blocks
 * (results first, as the API requires), assistant turns carry signed and redacted thinking, text and
 * tool_use blocks, and roles strictly alternate.
 */
import type Anthropic from '@anthropic-ai/sdk';
import type { ContextItem } from '../../steps/types.js';
import { type NeutralMessage, safeToolId, toNeutralMessages } from '../context.js';

type MessageParam = Anthropic.MessageParam;
type UserBlock = Anthropic.TextBlockParam | Anthropic.ToolResultBlockParam;
type AssistantBlock =
  | Anthropic.ThinkingBlockParam
  | Anthropic.RedactedThinkingBlockParam
  | Anthropic.TextBlockParam
  | Anthropic.ToolUseBlockParam;

function assistantBlocks(message: Extract<NeutralMessage, { role: 'assistant' }>): AssistantBlock[] {
  const out: AssistantBlock[] = [];
  for (const block of message.blocks) {
    if (block.type === 'thinking') {
      // Thinking goes back exactly as issued (redacted data, or text with its signature, even when
      // the text is empty); thinking without a signature (another backend's) stays in the trace.
      if (block.redacted !== undefined) out.push({ type: 'redacted_thinking', data: block.redacted });
      else if (block.signature) out.push({ type: 'thinking', thinking: block.content, signature: block.signature });
    } else if (block.type === 'text') {
      if (block.text.trim() !== '') out.push({ type: 'text', text: block.text });
    } else {
      out.push({ type: 'tool_use', id: safeToolId(block.call.id), name: block.call.name, input: block.call.input });
    }
  }
  return out;
}

export function toAnthropicMessages(context: ContextItem[]): MessageParam[] {
  const out: MessageParam[] = [];
  const pushUser = (blocks: UserBlock[]) => {
    const last = out[out.length - 1];
    if (last?.role === 'user' && Array.isArray(last.content)) (last.content as UserBlock[]).push(...blocks);
    else out.push({ role: 'user', content: blocks });
  };
  for (const message of toNeutralMessages(context)) {
    if (message.role === 'user') {
      pushUser(message.parts.map((text) => ({ type: 'text', text })));
    } else if (message.role === 'tool') {
      pushUser(
        message.results.map((r) => ({
          type: 'tool_result',
          tool_use_id: safeToolId(r.call_id),
          content: r.content === '' ? '(no output)' : r.content,
          is_error: r.is_error,
        })),
      );
    } else {
      const blocks = assistantBlocks(message);
      if (blocks.length === 0) continue;
      const last = out[out.length - 1];
      if (last?.role === 'assistant' && Array.isArray(last.content)) (last.content as AssistantBlock[]).push(...blocks);
      else out.push({ role: 'assistant', content: blocks });
    }
  }
  // Cache the conversation so far: the next turn re-sends it with only the new steps added.
  const last = out[out.length - 1];
  if (last && Array.isArray(last.content) && last.content.length > 0) {
    const block = last.content[last.content.length - 1] as { cache_control?: { type: 'ephemeral' } };
    block.cache_control = { type: 'ephemeral' };
  }
  return out;
}
