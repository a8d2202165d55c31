/** One complete, parsed line of a session file: what the reader yields and a processor sees. */
export interface SessionLine {
  /** Byte offset of the line's first byte. */
  offset: number;
  /** Bytes including the trailing `\n`. */
  length: number;
  /** The parsed JSON object. Lines that are not JSON objects never reach a processor. */
  value: Record<string, unknown>;
}
