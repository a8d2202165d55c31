/** What one `lstat` says about a session file: the evidence the "unchanged" test compares with a checkpoint. */
export interface FileStat {
  size: number;
  mtimeMs: number;
  ino: number;
}
