// Workflows of test/integration/codec.test.ts: every kind of payload (workflow input and result,
// activity input and result, a query answer, an activity failure's message) carries the secret.
import { ApplicationFailure, defineQuery, proxyActivities, setHandler } from '@temporalio/workflow';

export interface CodecActivities {
  echo(secret: string): Promise<string>;
  refuse(secret: string): Promise<string>;
}

const { echo, refuse } = proxyActivities<CodecActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 1 },
});

export const secretQuery = defineQuery<string>('secret');

export async function codecEchoWorkflow(input: {
  secret: string;
}): Promise<{ echoed: string; refusal: string }> {
  setHandler(secretQuery, () => `query:${input.secret}`);
  const echoed = await echo(input.secret);
  let refusal = '';
  try {
    await refuse(input.secret);
  } catch (err) {
    refusal =
      err instanceof Error && err.cause instanceof ApplicationFailure ? err.cause.message : String(err);
  }
  return { echoed, refusal };
}
