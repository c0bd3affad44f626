/** One sentence for a view or a log: the innermost failure's message (what the failing activity said). */
export function reasonOf(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(err);
}
