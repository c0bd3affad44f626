/**
 * The CKKS homomorphic encryption EMETH uses for model updates and statistics (SEAL through
 * node-seal 6.0.3; N = 8192, coefficient moduli [60, 40, 40, 60], scale 2^40, 128-bit security).
 * Types only: `activities/crypto/ckks.ts` implements it. Keys and ciphertexts cross process
 * boundaries as bytes (blobs in EMETH Storage); the secret key never leaves the requester's keyholder.
 */

/** Serialized SEAL objects. */
export interface CkksKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export interface CkksParams {
  polyModulusDegree: 8192;
  coeffModulusBits: readonly number[];
  scaleBits: number;
  /** Values per ciphertext (N / 2). */
  slots: number;
}

export const CKKS_PARAMS: CkksParams = {
  polyModulusDegree: 8192,
  coeffModulusBits: [60, 40, 40, 60],
  scaleBits: 40,
  slots: 4096,
};

/** One party's encrypted vector and the plain weight the aggregator multiplies it by. */
export interface WeightedCiphertext {
  ciphertext: Uint8Array;
  weight: number;
}

export interface Ckks {
  readonly params: CkksParams;
  /** A fresh key pair: only the keyholder ever calls this. */
  generateKeys(): CkksKeyPair;
  /** Encrypts `values` (any length; split over ⌈length / slots⌉ ciphertexts) with a public key. */
  encrypt(publicKey: Uint8Array, values: Float64Array): Uint8Array;
  /** Σ weight × ciphertext, without any secret key; every input must encrypt the same length. */
  weightedSum(parts: readonly WeightedCiphertext[]): Uint8Array;
  /** Decrypts the first `length` values. Throws an error naming the problem on a wrong key or tampered bytes. */
  decrypt(secretKey: Uint8Array, ciphertext: Uint8Array, length: number): Float64Array;
  /** Frees the wasm objects; the instance is unusable afterwards. */
  close(): void;
}
