import globalSetup from '../support/global-setup';

/**
 * The run's setup (one payload codec key for every process), without its shared Temporal server:
 * the chaos suite runs its own, persistent one, which it restarts.
 */
export default async function chaosGlobalSetup(): Promise<void> {
  process.env.EMETH_TEST_NO_TEMPORAL = '1';
  await globalSetup();
}
