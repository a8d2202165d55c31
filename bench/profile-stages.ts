/** Pipeline stages worth an inclusive-time figure in a CPU profile (function names as V8 records them). */
export const STAGES: RegExp[] = [
  /^walkRoot$/,
  /^stageFile$/,
  /^readBatches$/,
  /^parseFrame$/,
  /^push$/,
  /^probeFingerprintsSync$/,
  /^process$/,
  /^retract$/,
  /^enqueue$/,
  /^commitGroup$/,
  /^apply$/,
  /^appendRows$/,
];
