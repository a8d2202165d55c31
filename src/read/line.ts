/** One complete, parsed line of a session file: what the reader yields and a processor sees. */
export interface SessionLine {
  /** Byte offset of the line's first byte. */
  offset: number;
  /** Bytes including the trailing `\n`. */
  length: number;
  /** 1-based physical line number in the file (bad lines count: they are lines too). */
  line: number;
  /** The parsed JSON object. Lines that are not JSON objects come in `Batch.bad`. */
  value: Record<string, unknown>;
}
