// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EmethBase} from "./EmethBase.sol";

/**
 * @title EmethL1
 * @notice EmethCore's L1 job market (SPEC §3-§4): requests with escrow, SubJobs taken by staked
 * nodes, verification, penalties and the fee views. It runs only as EmethCore's extension:
 * EmethCore's fallback delegates these functions here, so they act on EmethCore's storage, token
 * balance, roles and pause state (see {EmethBase}). Called directly it refuses ({NotDelegated}).
 *
 * L1 job life (one Job, N SubJobs, each SubJob independently):
 *   request ─▶ Requested ─(registerSubJobs by the L1 server)─▶ Split
 *   SubJob: Open ─process─▶ Processing ─submit─▶ Submitted ─verify─▶ Verified
 *                              │  decline/timeout     │ reject
 *                              └──────────┬───────────┘
 *                          penalty burned; retries < maxRetries ? Open : Failed (share refunded)
 *   cancel (requester) is allowed only while no SubJob was ever processed: full refund.
 *   When every SubJob is Verified or Failed the Job is Finished and its escrow is exactly zero.
 *
 * Deadline exits: a verifier may time out a SubJob at its deadline; anyone may once `timeoutGrace`
 * has passed too (Processing: the node is fined as by a verifier; Submitted: the verifier is
 * absent, so nobody is fined, the node's deposit is unlocked and the share refunded).
 *
 * Just over 300 lines: the L1 market is one state machine (its functions share the penalty,
 * re-offer and fail helpers below); splitting it further would add another delegation hop.
 */
contract EmethL1 is EmethBase, EIP712 {
    using SafeERC20 for IERC20;

    /// @dev This contract's own address: under delegation `address(this)` is EmethCore's.
    address private immutable _self = address(this);

    error NotDelegated();

    /// @dev Every state change happens in EmethCore's storage, never in this contract's own.
    modifier onlyDelegated() {
        if (address(this) == _self) revert NotDelegated();
        _;
    }

    /// @dev EIP712 after EmethBase, as in EmethCore: the same storage layout (EIP712's fallback
    /// strings). Under delegation the domain is rebuilt for EmethCore's address, so a signed
    /// Request is checked under EmethCore's domain, the one the requester signed for.
    constructor(IERC20 token_) EmethBase(token_) EIP712("EmethCore", "1") {}

    // ───────────────────────────────────────────────────────────── L1 jobs

    /// @notice Requests an L1 job, escrowing feeLimit + verifierFee from the caller.
    /// @param jobId chosen by the requester (unique; lets a retried request be recognised).
    /// @param dataset content id of the dataset (only emitted).
    function request(
        bytes32 jobId,
        uint256 programId,
        uint256 fuelLimit,
        uint256 fuelPrice,
        uint256 deadline,
        bytes32 dataset
    ) external onlyDelegated whenNotPaused nonReentrant {
        uint256 escrow = _openJob(Request(msg.sender, jobId, programId, fuelLimit, fuelPrice, deadline, dataset));
        token.safeTransferFrom(msg.sender, address(this), escrow);
    }

    /// @notice Requests an L1 job on the requester's signed EIP-712 `Request`, relayed by anyone
    /// (the gateway): the escrow moves from the requester's free deposit on EmethCore into the
    /// job, so no relayer ever holds the requester's key or tokens. The jobId is the nonce: a
    /// signed Request opens its job once (a replay reverts with {JobExists}).
    function requestFor(Request calldata r, bytes calldata signature) external onlyDelegated whenNotPaused nonReentrant {
        bytes32 digest = _hashTypedDataV4(
            keccak256(
                abi.encode(REQUEST_TYPEHASH, r.requester, r.jobId, r.programId, r.fuelLimit, r.fuelPrice, r.deadline, r.dataset)
            )
        );
        address signer = ECDSA.recoverCalldata(digest, signature);
        if (signer != r.requester) revert InvalidRequestSignature(r.requester, signer);
        uint256 escrow = _openJob(r);
        Deposit storage d = _deposits[r.requester];
        // The same free deposit the L2 commits from: a pending withdrawal or a commitment cannot be escrowed twice.
        uint256 free = d.balance - d.committed - d.pendingWithdrawal;
        if (escrow > free) revert InsufficientFreeDeposit(r.requester, escrow, free);
        d.balance -= uint128(escrow);
        emit DepositEscrowed(r.requester, r.jobId, escrow, d.balance);
    }

    /// @dev Opens the job for `r.requester` and returns its escrow (feeLimit + verifierFee), which the caller takes.
    function _openJob(Request memory r) internal returns (uint256 escrow) {
        Job storage job = _jobs[r.jobId];
        if (job.status != JobStatus.None) revert JobExists(r.jobId);
        Program memory p = _programs[r.programId];
        if (!p.exists) revert UnknownProgram(r.programId);
        if (!p.active) revert ProgramInactive(r.programId);
        if (r.fuelPrice < p.minFuelPrice) revert FuelPriceTooLow(r.fuelPrice, p.minFuelPrice);
        if (r.fuelLimit == 0) revert ZeroAmount();
        if (r.deadline <= block.timestamp || r.deadline > type(uint64).max) revert InvalidDeadline(r.deadline);
        uint256 feeLimit = r.fuelLimit * r.fuelPrice;
        uint256 verifierFee = (feeLimit * verifierFeeRate) / BPS;
        escrow = feeLimit + verifierFee;

        job.requester = r.requester;
        job.deadline = uint64(r.deadline);
        job.status = JobStatus.Requested;
        job.maxRetries = uint8(maxRetries);
        job.programId = uint64(r.programId);
        job.fuelLimit = _u128(r.fuelLimit);
        job.fuelPrice = _u128(r.fuelPrice);
        job.verifierFee = _u128(verifierFee);
        job.escrow = _u128(escrow);
        emit JobRequested(r.jobId, r.requester, r.programId, r.fuelLimit, r.fuelPrice, verifierFee, r.deadline, r.dataset);
    }

    /// @notice Cancels a job no node has processed yet; refunds the whole escrow to the requester.
    function cancel(bytes32 jobId) external onlyDelegated whenNotPaused nonReentrant {
        Job storage job = _existingJob(jobId);
        if (job.requester != msg.sender) revert NotRequester(jobId, msg.sender);
        if (job.status != JobStatus.Requested && job.status != JobStatus.Split) revert InvalidJobStatus(jobId, job.status);
        if (job.processed) revert JobAlreadyProcessing(jobId);
        uint256 refund = job.escrow;
        job.escrow = 0;
        job.status = JobStatus.Cancelled;
        token.safeTransfer(msg.sender, refund);
        emit JobCancelled(jobId, refund);
    }

    /// @notice The L1 server registers the SubJobs of a requested job, one per shard. The job's
    /// fuelLimit and verifierFee are shared in proportion to `shardSizes`; the last SubJob takes
    /// the rounding remainder so the shares sum exactly to the job's.
    function registerSubJobs(bytes32 jobId, uint256[] calldata shardSizes) external onlyDelegated whenNotPaused onlyRole(L1_SERVER_ROLE) {
        Job storage job = _existingJob(jobId);
        if (job.status != JobStatus.Requested) revert InvalidJobStatus(jobId, job.status);
        (uint256[] memory fuel, uint256[] memory vfee) = splitShares(job.fuelLimit, job.verifierFee, shardSizes);
        uint256 n = shardSizes.length;
        for (uint256 i = 0; i < n; ++i) {
            if (fuel[i] == 0) revert ZeroShare(i);
            SubJob storage s = _subJobs[jobId][i];
            s.status = SubJobStatus.Open;
            s.fuelLimit = uint128(fuel[i]);
            s.verifierFee = uint128(vfee[i]);
            emit SubJobOffered(jobId, i, fuel[i], vfee[i], 0);
        }
        job.subJobCount = uint32(n);
        job.openCount = uint32(n);
        job.status = JobStatus.Split;
        emit SubJobsRegistered(jobId, n);
    }

    /// @notice A registered node takes an Open SubJob, locking nodeDeposit of its free stake.
    function process(bytes32 jobId, uint256 index) external onlyDelegated whenNotPaused {
        (Job storage job, SubJob storage s) = _subJobIn(jobId, index, SubJobStatus.Open);
        if (block.timestamp > job.deadline) revert JobExpired(jobId, job.deadline);
        Node storage n = _registeredNode(msg.sender);
        uint256 feeLimit = uint256(s.fuelLimit) * job.fuelPrice;
        uint256 lock = (feeLimit * depositRate) / BPS + s.verifierFee;
        uint256 free = n.stake - n.locked;
        if (lock > free) revert InsufficientFreeStake(msg.sender, lock, free);
        n.locked += uint128(lock);
        uint256 deadline = block.timestamp + processingTimeLimit;
        if (deadline > job.deadline) deadline = job.deadline;
        s.node = msg.sender;
        s.deposit = uint128(lock);
        s.deadline = uint64(deadline);
        s.status = SubJobStatus.Processing;
        job.processed = true;
        emit SubJobProcessing(jobId, index, msg.sender, lock, deadline);
    }

    /// @notice The assigned node gives a SubJob back before submitting; its decline penalty is burned.
    function decline(bytes32 jobId, uint256 index) external onlyDelegated whenNotPaused nonReentrant {
        (Job storage job, SubJob storage s) = _subJobIn(jobId, index, SubJobStatus.Processing);
        if (s.node != msg.sender) revert NotAssignedNode(jobId, index, msg.sender);
        uint256 penalty = _penalize(jobId, index, job, s, PenaltyReason.Decline, declinePenaltyRate);
        emit SubJobDeclined(jobId, index, msg.sender, penalty);
        _reofferOrFail(jobId, index, job, s);
    }

    /// @notice The assigned node reports its result digest and the fuel it used (≤ the SubJob's fuelLimit).
    function submit(bytes32 jobId, uint256 index, bytes32 resultDigest, uint256 fuelUsed) external onlyDelegated whenNotPaused {
        (, SubJob storage s) = _subJobIn(jobId, index, SubJobStatus.Processing);
        if (s.node != msg.sender) revert NotAssignedNode(jobId, index, msg.sender);
        if (fuelUsed > s.fuelLimit) revert FuelUsedExceedsLimit(fuelUsed, s.fuelLimit);
        s.fuelUsed = uint128(fuelUsed);
        s.resultDigest = resultDigest;
        s.status = SubJobStatus.Submitted;
        emit SubJobSubmitted(jobId, index, msg.sender, resultDigest, fuelUsed);
    }

    /// @notice A verifier accepts a submitted result: the node is paid fuelUsed × fuelPrice and its
    /// deposit is unlocked, the requester gets the unused fuel back, the verifier gets the verifier fee.
    function verify(bytes32 jobId, uint256 index) external onlyDelegated whenNotPaused nonReentrant onlyRole(VERIFIER_ROLE) {
        (Job storage job, SubJob storage s) = _subJobIn(jobId, index, SubJobStatus.Submitted);
        address node = s.node;
        uint256 payout = uint256(s.fuelUsed) * job.fuelPrice;
        uint256 refund = (uint256(s.fuelLimit) - s.fuelUsed) * job.fuelPrice;
        uint256 vfee = s.verifierFee;
        _nodes[node].locked -= s.deposit;
        s.status = SubJobStatus.Verified;
        job.escrow -= uint128(payout + refund + vfee);
        ++job.verifiedCount;
        emit SubJobVerified(jobId, index, node, msg.sender, payout, refund, vfee);
        _closeSubJob(jobId, job);
        if (payout > 0) token.safeTransfer(node, payout);
        if (refund > 0) token.safeTransfer(job.requester, refund);
        if (vfee > 0) token.safeTransfer(msg.sender, vfee);
    }

    /// @notice A verifier refuses a submitted result: reject penalty burned, SubJob re-offered or failed.
    function reject(bytes32 jobId, uint256 index) external onlyDelegated whenNotPaused nonReentrant onlyRole(VERIFIER_ROLE) {
        (Job storage job, SubJob storage s) = _subJobIn(jobId, index, SubJobStatus.Submitted);
        address node = s.node;
        uint256 penalty = _penalize(jobId, index, job, s, PenaltyReason.Reject, rejectPenaltyRate);
        emit SubJobRejected(jobId, index, node, msg.sender, penalty);
        _reofferOrFail(jobId, index, job, s);
    }

    /// @notice Times out an overdue SubJob: a verifier once its deadline has passed, anyone once
    /// `timeoutGrace` has passed too, so no absent verifier can freeze escrow or stake.
    /// Processing past its deadline: timeout penalty burned, then re-offered or failed. Open past the
    /// job's deadline: failed and refunded (no node to fine). Submitted and never judged (anyone,
    /// after the grace only): the verifier is absent, nobody is fined, the node's deposit is unlocked
    /// and the SubJob fails with its share refunded.
    function timeout(bytes32 jobId, uint256 index) external onlyDelegated whenNotPaused nonReentrant {
        Job storage job = _existingJob(jobId);
        SubJob storage s = _existingSubJob(jobId, index, job);
        SubJobStatus status = s.status;
        uint256 due = status == SubJobStatus.Open ? job.deadline : s.deadline;
        bool verifier = hasRole(VERIFIER_ROLE, msg.sender);
        if (status == SubJobStatus.Submitted || !verifier) due += timeoutGrace;
        if (status == SubJobStatus.None || status >= SubJobStatus.Verified) revert InvalidSubJobStatus(jobId, index, status);
        if (block.timestamp <= due) revert NotOverdue(jobId, index, due);
        address node = s.node;
        if (status == SubJobStatus.Processing) {
            uint256 penalty = _penalize(jobId, index, job, s, PenaltyReason.Timeout, timeoutPenaltyRate);
            emit SubJobTimedOut(jobId, index, node, penalty);
            _reofferOrFail(jobId, index, job, s);
        } else {
            if (status == SubJobStatus.Submitted) {
                _nodes[node].locked -= s.deposit;
                s.deposit = 0;
            }
            emit SubJobTimedOut(jobId, index, node, 0);
            _fail(jobId, index, job, s);
        }
    }

    function getJob(bytes32 jobId) external view returns (Job memory) {
        return _jobs[jobId];
    }

    function getSubJob(bytes32 jobId, uint256 index) external view returns (SubJob memory) {
        return _subJobs[jobId][index];
    }

    // ───────────────────────────────────────────────────────────── fee arithmetic (views)

    /// @notice The amounts of one (Sub)Job under the current parameters; `lib/fees.ts` mirrors it.
    function quote(uint256 fuelLimit, uint256 fuelPrice, uint256 fuelUsed) external view returns (Quote memory q) {
        if (fuelUsed > fuelLimit) revert FuelUsedExceedsLimit(fuelUsed, fuelLimit);
        q.feeLimit = fuelLimit * fuelPrice;
        q.verifierFee = (q.feeLimit * verifierFeeRate) / BPS;
        q.nodeDeposit = (q.feeLimit * depositRate) / BPS + q.verifierFee;
        q.nodePayout = fuelUsed * fuelPrice;
        q.requesterRefund = (fuelLimit - fuelUsed) * fuelPrice;
        q.declinePenalty = _min((q.feeLimit * declinePenaltyRate) / BPS, q.nodeDeposit);
        q.timeoutPenalty = _min((q.feeLimit * timeoutPenaltyRate) / BPS, q.nodeDeposit);
        q.rejectPenalty = _min((q.feeLimit * rejectPenaltyRate) / BPS, q.nodeDeposit);
    }

    /// @notice Shares of a job's fuelLimit and verifierFee in proportion to shard sizes; the last
    /// share takes the rounding remainder.
    function splitShares(uint256 fuelLimit, uint256 verifierFee, uint256[] calldata shardSizes)
        public
        pure
        returns (uint256[] memory fuel, uint256[] memory vfee)
    {
        uint256 n = shardSizes.length;
        if (n == 0) revert InvalidShards();
        uint256 total;
        for (uint256 i = 0; i < n; ++i) {
            if (shardSizes[i] == 0) revert ZeroShare(i);
            total += shardSizes[i];
        }
        fuel = new uint256[](n);
        vfee = new uint256[](n);
        uint256 fuelLeft = fuelLimit;
        uint256 vfeeLeft = verifierFee;
        for (uint256 i = 0; i + 1 < n; ++i) {
            fuel[i] = (fuelLimit * shardSizes[i]) / total;
            vfee[i] = (verifierFee * shardSizes[i]) / total;
            fuelLeft -= fuel[i];
            vfeeLeft -= vfee[i];
        }
        fuel[n - 1] = fuelLeft;
        vfee[n - 1] = vfeeLeft;
    }


    /// @dev Burns the penalty for `rate` (capped by the deposit) from the node's stake and unlocks
    /// the rest of the deposit.
    function _penalize(bytes32 jobId, uint256 index, Job storage job, SubJob storage s, PenaltyReason reason, uint256 rate)
        internal
        returns (uint256 penalty)
    {
        uint256 feeLimit = uint256(s.fuelLimit) * job.fuelPrice;
        penalty = _min((feeLimit * rate) / BPS, s.deposit);
        Node storage n = _nodes[s.node];
        n.locked -= s.deposit;
        n.stake -= uint128(penalty);
        if (penalty > 0) {
            totalBurned += penalty;
            ERC20Burnable(address(token)).burn(penalty);
            emit PenaltyBurned(s.node, jobId, index, reason, penalty);
        }
    }

    function _reofferOrFail(bytes32 jobId, uint256 index, Job storage job, SubJob storage s) internal {
        s.node = address(0);
        s.deposit = 0;
        s.deadline = 0;
        s.fuelUsed = 0;
        s.resultDigest = bytes32(0);
        if (s.retries < job.maxRetries && block.timestamp <= job.deadline) {
            ++s.retries;
            s.status = SubJobStatus.Open;
            emit SubJobOffered(jobId, index, s.fuelLimit, s.verifierFee, s.retries);
        } else {
            _fail(jobId, index, job, s);
        }
    }

    /// @dev A SubJob that will not be done: its whole share goes back to the requester.
    function _fail(bytes32 jobId, uint256 index, Job storage job, SubJob storage s) internal {
        uint256 refund = uint256(s.fuelLimit) * job.fuelPrice + s.verifierFee;
        s.status = SubJobStatus.Failed;
        job.escrow -= uint128(refund);
        ++job.failedCount;
        emit SubJobFailed(jobId, index, refund);
        _closeSubJob(jobId, job);
        token.safeTransfer(job.requester, refund);
    }

    function _closeSubJob(bytes32 jobId, Job storage job) internal {
        if (--job.openCount == 0) {
            job.status = JobStatus.Finished;
            emit JobFinished(jobId, job.verifiedCount, job.failedCount);
        }
    }

    function _existingJob(bytes32 jobId) internal view returns (Job storage job) {
        job = _jobs[jobId];
        if (job.status == JobStatus.None) revert UnknownJob(jobId);
    }

    function _existingSubJob(bytes32 jobId, uint256 index, Job storage job) internal view returns (SubJob storage s) {
        if (job.status != JobStatus.Split) revert InvalidJobStatus(jobId, job.status);
        if (index >= job.subJobCount) revert UnknownSubJob(jobId, index);
        s = _subJobs[jobId][index];
    }

    function _subJobIn(bytes32 jobId, uint256 index, SubJobStatus expected)
        internal
        view
        returns (Job storage job, SubJob storage s)
    {
        job = _existingJob(jobId);
        s = _existingSubJob(jobId, index, job);
        if (s.status != expected) revert InvalidSubJobStatus(jobId, index, s.status);
    }

}
