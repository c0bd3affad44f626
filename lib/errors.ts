/**
 * Errors that tell the reader what was wrong and what to do about it. Each carries a stable `code`
 * so callers (the CLI's exit status, the gateway's HTTP status) can map them without string matching.
 */
export class EmethError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A configuration value is missing or malformed; the message names the variable. */
export class ConfigError extends EmethError {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super('CONFIG', message);
  }
}

/** A port the stack needs is taken by another process. */
export class PortInUseError extends EmethError {
  constructor(
    readonly port: number,
    readonly what: string,
    readonly variable: string,
  ) {
    super(
      'PORT_IN_USE',
      `port ${port} (${what}) is already in use; stop what holds it or set ${variable} to another port`,
    );
  }
}

/** A part of the stack did not become ready in time. */
export class StartupError extends EmethError {
  /** `exited`: the process ended before it was ready, the case worth one more try. */
  constructor(
    what: string,
    detail: string,
    readonly reason: 'spawn' | 'exited' | 'timeout' = 'exited',
  ) {
    super('STARTUP', `${what} did not start: ${detail}`);
  }
}

/** A failure's stable code, for comparing failures across machines: the EmethError code, else the class name. */
export function errorCodeOf(err: unknown): string {
  if (err instanceof EmethError) return err.code;
  return err instanceof Error ? err.name : 'Error';
}
