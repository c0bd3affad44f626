/**
 * The gateway's one error shape: `{ error, message, field? }`. Routes throw HttpError; the /v1
 * error handler turns it (and body-parser's own errors) into that JSON, so no client ever has to
 * parse an HTML error page or guess which field was wrong.
 */
export interface ErrorBody {
  /** Stable machine-readable code, e.g. `invalid_field`, `unauthorized`, `insufficient_deposit`. */
  error: string;
  /** A sentence naming what was wrong and, where it helps, what to do. */
  message: string;
  /** The request field at fault, when there is one. */
  field?: string;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }

  toBody(): ErrorBody {
    return { error: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) };
  }
}

export const badRequest = (code: string, message: string, field?: string) =>
  new HttpError(400, code, message, field);
export const unauthorized = (code: string, message: string) => new HttpError(401, code, message);
export const forbidden = (code: string, message: string, field?: string) =>
  new HttpError(403, code, message, field);
export const notFound = (code: string, message: string) => new HttpError(404, code, message);
export const conflict = (code: string, message: string) => new HttpError(409, code, message);
