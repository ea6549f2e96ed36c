/**
 * How deep a JSON body of the HTTP API may nest. Validation and the engine model walk values recursively, so a body
 * nested a few thousand levels deep overflowed the stack and answered 500; the depth is now measured on the raw text,
 * without recursion and before anything parses it, and a deeper body is refused with 400.
 */

/**
 * Arrays and objects inside one another, counting the body's own outer object as 1. Real documents, events and
 * notifications nest a handful of levels; 64 leaves ample room for app payloads and stays far below the few thousand
 * at which a recursive walk runs out of stack.
 */
export const MAX_JSON_DEPTH = 64;

/** Whether `text`, read as JSON, nests arrays and objects deeper than `limit` (brackets inside strings do not count). */
export function jsonDepthExceeds(text: string, limit: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c /* \ */) i++;
      else if (char === 0x22 /* " */) inString = false;
    } else if (char === 0x22) {
      inString = true;
    } else if (char === 0x5b /* [ */ || char === 0x7b /* { */) {
      if (++depth > limit) return true;
    } else if (char === 0x5d /* ] */ || char === 0x7d /* } */) {
      depth--;
    }
  }
  return false;
}
