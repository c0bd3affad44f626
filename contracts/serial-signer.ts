import {
  AbstractSigner,
  type Provider,
  type Signer,
  type TransactionRequest,
  type TransactionResponse,
  type TypedDataDomain,
  type TypedDataField,
} from 'ethers';

/**
 * A signer that sends its transactions one at a time with nonces it counts itself.
 *
 * Why not ethers' NonceManager: it takes a nonce *before* estimating gas, so a call that reverts
 * in estimation burns a nonce and every later transaction waits forever behind the gap (anvil
 * never mines it). Here the nonce is taken only once the transaction is populated (estimated),
 * and it is re-read from the chain after any failed send. Concurrent callers are queued, so
 * anvil never sees two transactions of one account race for a nonce.
 */
export class SerialSigner extends AbstractSigner {
  #queue: Promise<unknown> = Promise.resolve();
  #nonce: number | undefined;
  #address: string | undefined;

  constructor(
    readonly inner: Signer,
    provider?: Provider | null,
  ) {
    super(provider ?? inner.provider);
  }

  async getAddress(): Promise<string> {
    return (this.#address ??= await this.inner.getAddress());
  }

  connect(provider: Provider | null): SerialSigner {
    return new SerialSigner(this.inner.connect(provider), provider);
  }

  /** The next nonce this signer will use (read from the chain once, then counted). */
  override async getNonce(): Promise<number> {
    if (this.#nonce === undefined) {
      if (!this.provider) throw new Error('SerialSigner needs a provider');
      this.#nonce = await this.provider.getTransactionCount(await this.getAddress(), 'pending');
    }
    return this.#nonce;
  }

  /** Forget the counted nonce (after an external send from the same key). */
  resetNonce(): void {
    this.#nonce = undefined;
  }

  signTransaction(tx: TransactionRequest): Promise<string> {
    return this.inner.signTransaction(tx);
  }

  signMessage(message: string | Uint8Array): Promise<string> {
    return this.inner.signMessage(message);
  }

  signTypedData(
    domain: TypedDataDomain,
    types: Record<string, TypedDataField[]>,
    value: Record<string, unknown>,
  ): Promise<string> {
    return this.inner.signTypedData(domain, types, value);
  }

  override sendTransaction(tx: TransactionRequest): Promise<TransactionResponse> {
    const run = async (): Promise<TransactionResponse> => {
      // populateTransaction estimates gas (throwing the revert) and takes getNonce() without consuming it.
      const populated = await this.populateTransaction({ ...tx, nonce: undefined });
      try {
        const sent = await this.inner.sendTransaction(populated);
        this.#nonce = (populated.nonce ?? 0) + 1;
        return sent;
      } catch (err) {
        this.#nonce = undefined; // re-read from the chain next time
        throw err;
      }
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }
}
