/**
 * Verifier fault drills: a verifier that lies on purpose, to prove the verdict audit
 * (activities/verification/verdict-audits.ts) catches it. A lying verifier signs its verdicts
 * properly, with its own key: what it lies about is the content, which only a re-check exposes.
 *   approve-all  every result valid, without checking (waves a cheating node's lie through)
 *   reject-all   every result invalid, without checking (fines honest nodes, to collect the reward)
 */
import type { TypedDataDomain } from 'ethers';
import type { VerifierActivities } from '../../lib/pipeline';
import { blobDigest, signVerdict } from '../../lib/attestations';
import type { TypedDataSigner } from '../../lib/tickets';

export const VERIFIER_BEHAVIOURS = ['honest', 'approve-all', 'reject-all'] as const;
export type VerifierBehaviour = (typeof VERIFIER_BEHAVIOURS)[number];

export function verifierBehaviourOf(text: string): VerifierBehaviour {
  const b = VERIFIER_BEHAVIOURS.find((x) => x === text);
  if (!b) throw new Error(`--behaviour must be one of ${VERIFIER_BEHAVIOURS.join(', ')}, got "${text}"`);
  return b;
}

export function verifierDrill(
  behaviour: VerifierBehaviour,
  honest: VerifierActivities,
  opts: { signer: TypedDataSigner & { getAddress(): Promise<string> }; domain: TypedDataDomain },
): VerifierActivities {
  if (behaviour === 'honest') return honest;
  const valid = behaviour === 'approve-all';
  return {
    ...honest,
    async verifySubJob(task) {
      const claim = {
        subJobId: task.subJobId,
        attempt: task.attempt,
        node: task.node.toLowerCase(),
        outputDigest: blobDigest(task.result.output),
        verifier: (await opts.signer.getAddress()).toLowerCase(),
        valid,
        // The node's own fuel figure, unchecked, and rows it never looked at.
        fuelUsed: task.result.fuelUsed,
        rowsChecked: 1,
      };
      const signature = await signVerdict(opts.signer, opts.domain, claim);
      return {
        ...claim,
        maxDiff: 0,
        ...(valid ? {} : { reason: `${behaviour}: rejected without checking` }),
        signature,
      };
    },
  };
}
