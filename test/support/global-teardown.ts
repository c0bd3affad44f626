export default async function globalTeardown(): Promise<void> {
  await globalThis.__EMETH_TEMPORAL__?.stop();
}
