// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/**
 * @title EmethBase
 * @notice What {EmethCore} and its L1 extension {EmethL1} share: roles, types, every state variable,
 * events, errors and the small helpers both use. Both contracts inherit it first, so their storage
 * layouts are the same by construction and EmethCore can delegate the L1 functions to EmethL1
 * (EIP-170 caps a contract at 24,576 bytes of code; the two together are over it).
 * Over 300 lines because it is declarations only (types, state, events, errors): one place keeps
 * the storage layout of both contracts the same.
 */
abstract contract EmethBase is AccessControl, Pausable, ReentrancyGuardTransient {
    // ───────────────────────────────────────────────────────────── roles

    /// @notice Registers SubJobs of L1 jobs (the L1 server).
    bytes32 public constant L1_SERVER_ROLE = keccak256("L1_SERVER_ROLE");
    /// @notice Verifies, rejects and times out SubJobs; earns verifier fees.
    bytes32 public constant VERIFIER_ROLE = keccak256("VERIFIER_ROLE");
    /// @notice Signs ticket batches for L2 work.
    bytes32 public constant SIGNER_ROLE = keccak256("SIGNER_ROLE");
    /// @notice The L2 server (Execution Layer): commits deposits, locks stake per attempt, burns penalties.
    bytes32 public constant L2_SERVER_ROLE = keccak256("L2_SERVER_ROLE");

    uint256 public constant BPS = 10_000;

    // ───────────────────────────────────────────────────────────── types

    enum JobStatus { None, Requested, Split, Finished, Cancelled }
    enum SubJobStatus { None, Open, Processing, Submitted, Verified, Failed }
    enum PenaltyReason { Decline, Timeout, Reject }
    enum Parameter {
        VerifierFeeRate,
        DepositRate,
        DeclinePenaltyRate,
        TimeoutPenaltyRate,
        RejectPenaltyRate,
        MaxRetries,
        WithdrawalDelay,
        UnstakeCooldown,
        SignerInterval,
        ProcessingTimeLimit,
        MinNodeStake,
        TimeoutGrace,
        ProverShare
    }

    struct Program {
        uint64 subProgramId;
        bool active;
        bool exists;
        uint128 minFuelPrice;
    }

    struct Node {
        bool registered;
        uint32 capabilityClass;
        uint64 unstakeUnlockAt;
        uint128 stake; // includes `locked`
        uint128 locked; // deposits of L1 SubJobs in Processing/Submitted and L2 attempt locks
        uint128 unstaking; // requested, waiting for the cooldown; no longer at stake
        bytes32 encryptionKey; // X25519 public key
    }

    struct Job {
        address requester;
        uint64 deadline;
        JobStatus status;
        uint8 maxRetries;
        bool processed; // some SubJob was processed: cancel is no longer possible
        uint64 programId;
        uint32 subJobCount;
        uint32 openCount; // SubJobs not yet Verified or Failed
        uint32 verifiedCount;
        uint32 failedCount;
        uint128 fuelLimit;
        uint128 fuelPrice;
        uint128 verifierFee;
        uint128 escrow; // what the contract still holds for this Job
    }

    struct SubJob {
        address node;
        uint64 deadline;
        SubJobStatus status;
        uint8 retries;
        uint128 fuelLimit;
        uint128 verifierFee;
        uint128 deposit;
        uint128 fuelUsed;
        bytes32 resultDigest;
    }

    /// @dev Invariant: committed + pendingWithdrawal ≤ balance.
    struct Deposit {
        uint128 balance;
        uint128 pendingWithdrawal;
        uint64 withdrawableAt;
        uint128 committed; // Σ (amount − spent) over the requester's commitments
    }

    /// @notice EIP-712 `Commit`: `requester` lets the L2 commit `amount` of its deposit to `jobId`
    /// until `deadline` (the jobId is the nonce: a Job is committed once).
    struct Commit {
        address requester;
        bytes32 jobId;
        uint256 amount;
        uint256 deadline;
    }

    /// @notice EIP-712 `Request`: `requester` asks for an L1 job, its escrow taken from its deposit
    /// (EmethL1.requestFor); the jobId is the nonce.
    struct Request {
        address requester;
        bytes32 jobId;
        uint256 programId;
        uint256 fuelLimit;
        uint256 fuelPrice;
        uint256 deadline;
        bytes32 dataset;
    }

    /// @notice One Job's commitment: tickets of the Job are paid from it, up to `amount` in all.
    struct Commitment {
        uint128 amount; // what the Job may spend in all (lowered at settlement)
        uint128 spent; // redeemed so far
        uint64 deadline; // after it the requester may reclaim amount − spent
        bool settled;
    }

    /// @notice The worst-case penalty of one L2 attempt, held back from the node's free stake.
    struct StakeLock {
        address node;
        bool closed;
        uint128 amount;
    }

    /// @notice EIP-712 `Batch`: the Signer's statement that `root` holds tickets summing to `total`.
    struct Batch {
        uint256 batchId;
        bytes32 root;
        uint256 total;
    }

    /// @notice EIP-712 `Ticket`: `node` earned `amount` and `verifier` earned `verifierFee` for a
    /// verified SubJob, both paid from `requester`'s deposit.
    struct Ticket {
        bytes32 jobId;
        bytes32 subJobId;
        address node;
        address requester;
        uint256 amount;
        address verifier;
        uint256 verifierFee;
    }

    /// @notice All amounts of one SubJob's fee arithmetic (see {quote}).
    struct Quote {
        uint256 feeLimit;
        uint256 verifierFee;
        uint256 nodeDeposit;
        uint256 nodePayout;
        uint256 requesterRefund;
        uint256 declinePenalty;
        uint256 timeoutPenalty;
        uint256 rejectPenalty;
    }

    bytes32 public constant BATCH_TYPEHASH = keccak256("Batch(uint256 batchId,bytes32 root,uint256 total)");
    bytes32 public constant TICKET_TYPEHASH = keccak256(
        "Ticket(bytes32 jobId,bytes32 subJobId,address node,address requester,uint256 amount,address verifier,uint256 verifierFee)"
    );
    bytes32 public constant COMMIT_TYPEHASH =
        keccak256("Commit(address requester,bytes32 jobId,uint256 amount,uint256 deadline)");
    bytes32 public constant REQUEST_TYPEHASH = keccak256(
        "Request(address requester,bytes32 jobId,uint256 programId,uint256 fuelLimit,uint256 fuelPrice,uint256 deadline,bytes32 dataset)"
    );

    // ───────────────────────────────────────────────────────────── state

    IERC20 public immutable token;

    uint256 public verifierFeeRate = 500;
    uint256 public depositRate = 10_000;
    uint256 public declinePenaltyRate = 2_500;
    uint256 public timeoutPenaltyRate = 2_500;
    uint256 public rejectPenaltyRate = 2_500;
    uint256 public maxRetries = 3;
    uint256 public withdrawalDelay = 1 hours;
    uint256 public unstakeCooldown = 1 days;
    uint256 public signerInterval = 1 minutes;
    uint256 public processingTimeLimit = 1 hours;
    uint256 public minNodeStake = 1 ether;
    /// @notice After a SubJob's deadline plus this, anyone may time it out (no verifier needed).
    uint256 public timeoutGrace = 1 days;
    /// @notice Share of an L2 fine paid to whoever proved the lie (the verifier or the honest
    /// replica); the rest is burned.
    uint256 public proverShare = 5_000;

    /// @notice Sum of every penalty burned, in holon.
    uint256 public totalBurned;
    /// @notice L2 penalties already burned, by the L2's reason id (one per failed attempt).
    mapping(bytes32 reasonId => bool) public penaltyApplied;

    mapping(uint256 programId => Program) internal _programs;
    mapping(address node => Node) internal _nodes;
    mapping(bytes32 jobId => Job) internal _jobs;
    mapping(bytes32 jobId => mapping(uint256 index => SubJob)) internal _subJobs;
    mapping(address requester => Deposit) internal _deposits;
    /// @dev Redeemed tickets: one bit per leaf index, per Merkle root. A fresh root costs one new
    /// slot per 256 tickets instead of one per ticket.
    mapping(bytes32 root => mapping(uint256 word => uint256 bits)) internal _redeemed;
    /// @notice Sum of amount + verifierFee redeemed per batch root (never above the batch's total).
    mapping(bytes32 root => uint256) public batchRedeemed;
    mapping(address requester => mapping(bytes32 jobId => Commitment)) internal _commitments;
    mapping(bytes32 attemptId => StakeLock) internal _stakeLocks;

    // ───────────────────────────────────────────────────────────── events

    event ParameterChanged(Parameter indexed parameter, uint256 oldValue, uint256 newValue);
    event ProgramRegistered(uint256 indexed programId, uint64 subProgramId, uint128 minFuelPrice, bool active);
    event ProgramUpdated(uint256 indexed programId, uint64 subProgramId, uint128 minFuelPrice, bool active);

    event NodeRegistered(address indexed node, uint256 stake, bytes32 encryptionKey, uint32 capabilityClass);
    event NodeUpdated(address indexed node, bytes32 encryptionKey, uint32 capabilityClass);
    event StakeAdded(address indexed node, uint256 amount, uint256 stake);
    event UnstakeRequested(address indexed node, uint256 amount, uint256 unlockAt);
    event Unstaked(address indexed node, uint256 amount);
    event PenaltyBurned(address indexed node, bytes32 indexed jobId, uint256 index, PenaltyReason reason, uint256 amount);

    event JobRequested(
        bytes32 indexed jobId,
        address indexed requester,
        uint256 indexed programId,
        uint256 fuelLimit,
        uint256 fuelPrice,
        uint256 verifierFee,
        uint256 deadline,
        bytes32 dataset
    );
    event JobCancelled(bytes32 indexed jobId, uint256 refund);
    event DepositEscrowed(address indexed requester, bytes32 indexed jobId, uint256 amount, uint256 balance);
    event SubJobsRegistered(bytes32 indexed jobId, uint256 count);
    event SubJobOffered(bytes32 indexed jobId, uint256 indexed index, uint256 fuelLimit, uint256 verifierFee, uint256 attempt);
    event SubJobProcessing(bytes32 indexed jobId, uint256 indexed index, address indexed node, uint256 deposit, uint256 deadline);
    event SubJobDeclined(bytes32 indexed jobId, uint256 indexed index, address indexed node, uint256 penalty);
    event SubJobSubmitted(bytes32 indexed jobId, uint256 indexed index, address indexed node, bytes32 resultDigest, uint256 fuelUsed);
    event SubJobVerified(
        bytes32 indexed jobId,
        uint256 indexed index,
        address indexed node,
        address verifier,
        uint256 nodePayout,
        uint256 requesterRefund,
        uint256 verifierFee
    );
    event SubJobRejected(bytes32 indexed jobId, uint256 indexed index, address indexed node, address verifier, uint256 penalty);
    event SubJobTimedOut(bytes32 indexed jobId, uint256 indexed index, address indexed node, uint256 penalty);
    event SubJobFailed(bytes32 indexed jobId, uint256 indexed index, uint256 refund);
    event JobFinished(bytes32 indexed jobId, uint256 verifiedCount, uint256 failedCount);

    event Deposited(address indexed requester, uint256 amount, uint256 balance);
    event WithdrawalRequested(address indexed requester, uint256 amount, uint256 pending, uint256 withdrawableAt);
    event WithdrawalCancelled(address indexed requester, uint256 amount);
    event Withdrawn(address indexed requester, uint256 amount, uint256 balance);
    event L2PenaltyBurned(address indexed node, bytes32 indexed reasonId, uint256 amount);
    event L2FineRewarded(address indexed node, bytes32 indexed reasonId, address indexed prover, uint256 reward);
    event Committed(address indexed requester, bytes32 indexed jobId, uint256 amount, uint256 deadline);
    event CommitmentSettled(address indexed requester, bytes32 indexed jobId, uint256 total, uint256 released);
    event CommitmentReclaimed(address indexed requester, bytes32 indexed jobId, uint256 released);
    event StakeLocked(address indexed node, bytes32 indexed attemptId, uint256 amount);
    event StakeReleased(address indexed node, bytes32 indexed attemptId, uint256 amount);
    event TicketRedeemed(
        bytes32 indexed root,
        bytes32 indexed subJobId,
        uint256 index,
        bytes32 jobId,
        address node,
        address requester,
        uint256 amount,
        address verifier,
        uint256 verifierFee
    );

    // ───────────────────────────────────────────────────────────── errors

    error InvalidParameter(Parameter parameter, uint256 value);
    error ProgramExists(uint256 programId);
    error UnknownProgram(uint256 programId);
    error ProgramInactive(uint256 programId);
    error FuelPriceTooLow(uint256 fuelPrice, uint256 minFuelPrice);
    error ZeroAmount();
    error AmountTooLarge(uint256 amount);

    error NodeAlreadyRegistered(address node);
    error NodeNotRegistered(address node);
    error StakeTooLow(uint256 stake, uint256 minStake);
    error InsufficientFreeStake(address node, uint256 needed, uint256 free);
    error NothingUnstaking(address node);
    error UnstakeNotReady(address node, uint256 unlockAt);

    error JobExists(bytes32 jobId);
    error UnknownJob(bytes32 jobId);
    error InvalidDeadline(uint256 deadline);
    error JobExpired(bytes32 jobId, uint256 deadline);
    error InvalidJobStatus(bytes32 jobId, JobStatus status);
    error NotRequester(bytes32 jobId, address caller);
    error JobAlreadyProcessing(bytes32 jobId);
    error InvalidShards();
    error ZeroShare(uint256 index);
    error UnknownSubJob(bytes32 jobId, uint256 index);
    error InvalidSubJobStatus(bytes32 jobId, uint256 index, SubJobStatus status);
    error NotAssignedNode(bytes32 jobId, uint256 index, address caller);
    error FuelUsedExceedsLimit(uint256 fuelUsed, uint256 fuelLimit);
    error NotOverdue(bytes32 jobId, uint256 index, uint256 deadline);

    error InsufficientFreeDeposit(address requester, uint256 amount, uint256 free);
    error NoPendingWithdrawal(address requester);
    error WithdrawalNotReady(address requester, uint256 withdrawableAt);

    error InvalidBatchSigner(address recovered);
    error InvalidMerkleProof(bytes32 root, uint256 index);
    error TicketAlreadyRedeemed(bytes32 root, uint256 index);
    error InsufficientDeposit(address requester, uint256 needed, uint256 available);
    error PenaltyAlreadyApplied(bytes32 reasonId);
    error LengthMismatch();
    error BatchTotalExceeded(bytes32 root, uint256 redeemed, uint256 total);

    error InvalidCommitSignature(address requester, address recovered);
    error InvalidRequestSignature(address requester, address recovered);
    error CommitExpired(bytes32 jobId, uint256 deadline);
    error CommitmentExists(address requester, bytes32 jobId);
    error UnknownCommitment(address requester, bytes32 jobId);
    error CommitmentAlreadySettled(address requester, bytes32 jobId);
    error SettlementOutOfRange(bytes32 jobId, uint256 total, uint256 spent, uint256 amount);
    error CommitmentNotExpired(bytes32 jobId, uint256 deadline);
    error TicketExceedsCommitment(address requester, bytes32 jobId, uint256 needed, uint256 available);
    error StakeLockExists(bytes32 attemptId);
    error UnknownStakeLock(bytes32 attemptId);
    error InvalidProver(address prover);

    constructor(IERC20 token_) {
        token = token_;
    }

    // ───────────────────────────────────────────────────────────── shared internals

    function _registeredNode(address node) internal view returns (Node storage n) {
        n = _nodes[node];
        if (!n.registered) revert NodeNotRegistered(node);
    }

    function _rate(Parameter parameter, uint256 value) internal pure returns (uint256) {
        if (value > BPS) revert InvalidParameter(parameter, value);
        return value;
    }

    function _u128(uint256 value) internal pure returns (uint128) {
        if (value > type(uint128).max) revert AmountTooLarge(value);
        return uint128(value);
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }
}
