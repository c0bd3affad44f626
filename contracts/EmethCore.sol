// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/**
 * @title EmethCore
 * @notice EMETH's money: program registry, node staking, L1 jobs with escrow, L2 requester deposits
 * and the redemption of signed ticket batches. Every amount is in holon (1e-18 EMETH); every rate
 * is in basis points (10_000 = 100%). The rules are SPEC.md §3-§5; `lib/fees.ts` computes the
 * same numbers off-chain and {quote}/{splitShares} expose the contract's side for comparison.
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
 * Withdrawal rule (L2 deposits) — why a withdrawal cannot race a signed ticket:
 *   1. `requestWithdrawal` earmarks part of the *free* deposit (balance − pending withdrawal); the
 *      money stays in the deposit and the gateway stops counting it as free at once.
 *   2. `withdraw` pays only after `withdrawalDelay`, which governance keeps strictly longer than
 *      `signerInterval` (enforced by {setParameter}); so every ticket for work accepted before the
 *      request is signed, and can be redeemed, before the money leaves.
 *   3. Redemption takes precedence: `redeem` debits the deposit even when the money is earmarked,
 *      shrinking the pending withdrawal if needed; `withdraw` pays min(pending, balance).
 */
contract EmethCore is AccessControl, Pausable, ReentrancyGuardTransient, EIP712 {
    using SafeERC20 for IERC20;

    // ───────────────────────────────────────────────────────────── roles

    /// @notice Registers SubJobs of L1 jobs (the L1 server).
    bytes32 public constant L1_SERVER_ROLE = keccak256("L1_SERVER_ROLE");
    /// @notice Verifies, rejects and times out SubJobs; earns verifier fees.
    bytes32 public constant VERIFIER_ROLE = keccak256("VERIFIER_ROLE");
    /// @notice Signs ticket batches for L2 work.
    bytes32 public constant SIGNER_ROLE = keccak256("SIGNER_ROLE");

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
        MinNodeStake
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
        uint128 locked; // deposits of SubJobs in Processing/Submitted
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

    struct Deposit {
        uint128 balance;
        uint128 pendingWithdrawal;
        uint64 withdrawableAt;
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

    /// @notice Sum of every penalty burned, in holon.
    uint256 public totalBurned;
    /// @notice L2 penalties already burned, by the L2's reason id (one per failed attempt).
    mapping(bytes32 reasonId => bool) public penaltyApplied;

    mapping(uint256 programId => Program) private _programs;
    mapping(address node => Node) private _nodes;
    mapping(bytes32 jobId => Job) private _jobs;
    mapping(bytes32 jobId => mapping(uint256 index => SubJob)) private _subJobs;
    mapping(address requester => Deposit) private _deposits;
    /// @dev Redeemed tickets: one bit per leaf index, per Merkle root. A fresh root costs one new
    /// slot per 256 tickets instead of one per ticket.
    mapping(bytes32 root => mapping(uint256 word => uint256 bits)) private _redeemed;

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

    // ───────────────────────────────────────────────────────────── setup

    /// @param token_ the EmethToken (must be burnable: penalties are burned).
    /// @param admin the owner/governance address (DEFAULT_ADMIN_ROLE).
    constructor(IERC20 token_, address admin) EIP712("EmethCore", "1") {
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Sets one governance parameter. Rates are basis points; times are seconds.
    /// Rates are capped at 100%, maxRetries at 255, and the withdrawal delay must stay longer than
    /// the signer interval (see the withdrawal rule in the contract's notice).
    function setParameter(Parameter parameter, uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint256 old;
        if (parameter == Parameter.VerifierFeeRate) (old, verifierFeeRate) = (verifierFeeRate, _rate(parameter, value));
        else if (parameter == Parameter.DepositRate) (old, depositRate) = (depositRate, _rate(parameter, value));
        else if (parameter == Parameter.DeclinePenaltyRate) (old, declinePenaltyRate) = (declinePenaltyRate, _rate(parameter, value));
        else if (parameter == Parameter.TimeoutPenaltyRate) (old, timeoutPenaltyRate) = (timeoutPenaltyRate, _rate(parameter, value));
        else if (parameter == Parameter.RejectPenaltyRate) (old, rejectPenaltyRate) = (rejectPenaltyRate, _rate(parameter, value));
        else if (parameter == Parameter.MaxRetries) {
            if (value > type(uint8).max) revert InvalidParameter(parameter, value);
            (old, maxRetries) = (maxRetries, value);
        } else if (parameter == Parameter.WithdrawalDelay) {
            if (value <= signerInterval) revert InvalidParameter(parameter, value);
            (old, withdrawalDelay) = (withdrawalDelay, value);
        } else if (parameter == Parameter.SignerInterval) {
            if (value == 0 || value >= withdrawalDelay) revert InvalidParameter(parameter, value);
            (old, signerInterval) = (signerInterval, value);
        } else if (parameter == Parameter.UnstakeCooldown) (old, unstakeCooldown) = (unstakeCooldown, value);
        else if (parameter == Parameter.ProcessingTimeLimit) {
            if (value == 0) revert InvalidParameter(parameter, value);
            (old, processingTimeLimit) = (processingTimeLimit, value);
        } else (old, minNodeStake) = (minNodeStake, value);
        emit ParameterChanged(parameter, old, value);
    }

    function pause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }

    // ───────────────────────────────────────────────────────────── programs

    /// @notice Registers a program and the sub-program its SubJobs run (the paper's 1 → 11).
    function registerProgram(uint256 programId, uint64 subProgramId, uint128 minFuelPrice, bool active)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        Program storage p = _programs[programId];
        if (p.exists) revert ProgramExists(programId);
        _programs[programId] = Program(subProgramId, active, true, minFuelPrice);
        emit ProgramRegistered(programId, subProgramId, minFuelPrice, active);
    }

    function updateProgram(uint256 programId, uint64 subProgramId, uint128 minFuelPrice, bool active)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (!_programs[programId].exists) revert UnknownProgram(programId);
        _programs[programId] = Program(subProgramId, active, true, minFuelPrice);
        emit ProgramUpdated(programId, subProgramId, minFuelPrice, active);
    }

    function getProgram(uint256 programId) external view returns (Program memory) {
        return _programs[programId];
    }

    // ───────────────────────────────────────────────────────────── nodes

    /// @notice Registers the caller as a node, staking `stake` (transferred from the caller).
    function registerNode(uint256 stake, bytes32 encryptionKey, uint32 capabilityClass) external whenNotPaused nonReentrant {
        Node storage n = _nodes[msg.sender];
        if (n.registered) revert NodeAlreadyRegistered(msg.sender);
        if (stake < minNodeStake || stake == 0) revert StakeTooLow(stake, minNodeStake);
        n.registered = true;
        n.capabilityClass = capabilityClass;
        n.encryptionKey = encryptionKey;
        n.stake = _u128(stake);
        token.safeTransferFrom(msg.sender, address(this), stake);
        emit NodeRegistered(msg.sender, stake, encryptionKey, capabilityClass);
    }

    function updateNode(bytes32 encryptionKey, uint32 capabilityClass) external whenNotPaused {
        Node storage n = _registeredNode(msg.sender);
        n.encryptionKey = encryptionKey;
        n.capabilityClass = capabilityClass;
        emit NodeUpdated(msg.sender, encryptionKey, capabilityClass);
    }

    function addStake(uint256 amount) external whenNotPaused nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Node storage n = _registeredNode(msg.sender);
        n.stake = _u128(n.stake + amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit StakeAdded(msg.sender, amount, n.stake);
    }

    /// @notice Takes `amount` of free stake out of play; it can be withdrawn with {unstake} after
    /// the cooldown. A new request adds to the amount and restarts the cooldown.
    function requestUnstake(uint256 amount) external whenNotPaused {
        if (amount == 0) revert ZeroAmount();
        Node storage n = _registeredNode(msg.sender);
        uint256 free = n.stake - n.locked;
        if (amount > free) revert InsufficientFreeStake(msg.sender, amount, free);
        n.stake -= uint128(amount);
        n.unstaking += uint128(amount);
        uint256 unlockAt = block.timestamp + unstakeCooldown;
        n.unstakeUnlockAt = uint64(unlockAt);
        emit UnstakeRequested(msg.sender, amount, unlockAt);
    }

    function unstake() external whenNotPaused nonReentrant {
        Node storage n = _registeredNode(msg.sender);
        uint256 amount = n.unstaking;
        if (amount == 0) revert NothingUnstaking(msg.sender);
        if (block.timestamp < n.unstakeUnlockAt) revert UnstakeNotReady(msg.sender, n.unstakeUnlockAt);
        n.unstaking = 0;
        token.safeTransfer(msg.sender, amount);
        emit Unstaked(msg.sender, amount);
    }

    function getNode(address node) external view returns (Node memory) {
        return _nodes[node];
    }

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
    ) external whenNotPaused nonReentrant {
        Job storage job = _jobs[jobId];
        if (job.status != JobStatus.None) revert JobExists(jobId);
        Program memory p = _programs[programId];
        if (!p.exists) revert UnknownProgram(programId);
        if (!p.active) revert ProgramInactive(programId);
        if (fuelPrice < p.minFuelPrice) revert FuelPriceTooLow(fuelPrice, p.minFuelPrice);
        if (fuelLimit == 0) revert ZeroAmount();
        if (deadline <= block.timestamp || deadline > type(uint64).max) revert InvalidDeadline(deadline);
        uint256 feeLimit = fuelLimit * fuelPrice;
        uint256 verifierFee = (feeLimit * verifierFeeRate) / BPS;
        uint256 escrow = feeLimit + verifierFee;

        job.requester = msg.sender;
        job.deadline = uint64(deadline);
        job.status = JobStatus.Requested;
        job.maxRetries = uint8(maxRetries);
        job.programId = uint64(programId);
        job.fuelLimit = _u128(fuelLimit);
        job.fuelPrice = _u128(fuelPrice);
        job.verifierFee = _u128(verifierFee);
        job.escrow = _u128(escrow);
        token.safeTransferFrom(msg.sender, address(this), escrow);
        emit JobRequested(jobId, msg.sender, programId, fuelLimit, fuelPrice, verifierFee, deadline, dataset);
    }

    /// @notice Cancels a job no node has processed yet; refunds the whole escrow to the requester.
    function cancel(bytes32 jobId) external whenNotPaused nonReentrant {
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
    function registerSubJobs(bytes32 jobId, uint256[] calldata shardSizes) external whenNotPaused onlyRole(L1_SERVER_ROLE) {
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
    function process(bytes32 jobId, uint256 index) external whenNotPaused {
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
    function decline(bytes32 jobId, uint256 index) external whenNotPaused nonReentrant {
        (Job storage job, SubJob storage s) = _subJobIn(jobId, index, SubJobStatus.Processing);
        if (s.node != msg.sender) revert NotAssignedNode(jobId, index, msg.sender);
        uint256 penalty = _penalize(jobId, index, job, s, PenaltyReason.Decline, declinePenaltyRate);
        emit SubJobDeclined(jobId, index, msg.sender, penalty);
        _reofferOrFail(jobId, index, job, s);
    }

    /// @notice The assigned node reports its result digest and the fuel it used (≤ the SubJob's fuelLimit).
    function submit(bytes32 jobId, uint256 index, bytes32 resultDigest, uint256 fuelUsed) external whenNotPaused {
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
    function verify(bytes32 jobId, uint256 index) external whenNotPaused nonReentrant onlyRole(VERIFIER_ROLE) {
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
    function reject(bytes32 jobId, uint256 index) external whenNotPaused nonReentrant onlyRole(VERIFIER_ROLE) {
        (Job storage job, SubJob storage s) = _subJobIn(jobId, index, SubJobStatus.Submitted);
        address node = s.node;
        uint256 penalty = _penalize(jobId, index, job, s, PenaltyReason.Reject, rejectPenaltyRate);
        emit SubJobRejected(jobId, index, node, msg.sender, penalty);
        _reofferOrFail(jobId, index, job, s);
    }

    /// @notice A verifier times out an overdue SubJob. Processing past its deadline: timeout penalty
    /// burned, then re-offered or failed. Open past the job's deadline: failed and refunded (no node
    /// to fine).
    function timeout(bytes32 jobId, uint256 index) external whenNotPaused nonReentrant onlyRole(VERIFIER_ROLE) {
        Job storage job = _existingJob(jobId);
        SubJob storage s = _existingSubJob(jobId, index, job);
        if (s.status == SubJobStatus.Processing) {
            if (block.timestamp <= s.deadline) revert NotOverdue(jobId, index, s.deadline);
            address node = s.node;
            uint256 penalty = _penalize(jobId, index, job, s, PenaltyReason.Timeout, timeoutPenaltyRate);
            emit SubJobTimedOut(jobId, index, node, penalty);
            _reofferOrFail(jobId, index, job, s);
        } else if (s.status == SubJobStatus.Open) {
            if (block.timestamp <= job.deadline) revert NotOverdue(jobId, index, job.deadline);
            emit SubJobTimedOut(jobId, index, address(0), 0);
            _fail(jobId, index, job, s);
        } else {
            revert InvalidSubJobStatus(jobId, index, s.status);
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

    // ───────────────────────────────────────────────────────────── L2 deposits

    function deposit(uint256 amount) external whenNotPaused nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Deposit storage d = _deposits[msg.sender];
        d.balance = _u128(d.balance + amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(msg.sender, amount, d.balance);
    }

    /// @notice Earmarks `amount` of the free deposit for withdrawal after `withdrawalDelay`.
    /// A new request adds to the pending amount and restarts the delay.
    function requestWithdrawal(uint256 amount) external whenNotPaused {
        if (amount == 0) revert ZeroAmount();
        Deposit storage d = _deposits[msg.sender];
        uint256 free = d.balance - d.pendingWithdrawal;
        if (amount > free) revert InsufficientFreeDeposit(msg.sender, amount, free);
        d.pendingWithdrawal += uint128(amount);
        uint256 at = block.timestamp + withdrawalDelay;
        d.withdrawableAt = uint64(at);
        emit WithdrawalRequested(msg.sender, amount, d.pendingWithdrawal, at);
    }

    function cancelWithdrawal() external whenNotPaused {
        Deposit storage d = _deposits[msg.sender];
        uint256 amount = d.pendingWithdrawal;
        if (amount == 0) revert NoPendingWithdrawal(msg.sender);
        d.pendingWithdrawal = 0;
        d.withdrawableAt = 0;
        emit WithdrawalCancelled(msg.sender, amount);
    }

    /// @notice Pays the pending withdrawal once its delay has passed: min(pending, balance), since
    /// tickets redeemed meanwhile take precedence.
    function withdraw() external whenNotPaused nonReentrant {
        Deposit storage d = _deposits[msg.sender];
        uint256 pending = d.pendingWithdrawal;
        if (pending == 0) revert NoPendingWithdrawal(msg.sender);
        if (block.timestamp < d.withdrawableAt) revert WithdrawalNotReady(msg.sender, d.withdrawableAt);
        uint256 amount = _min(pending, d.balance);
        d.balance -= uint128(amount);
        d.pendingWithdrawal = 0;
        d.withdrawableAt = 0;
        if (amount > 0) token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount, d.balance);
    }

    function getDeposit(address requester) external view returns (Deposit memory) {
        return _deposits[requester];
    }

    /// @notice Deposit not earmarked for withdrawal: what the gateway may still reserve against.
    function freeDeposit(address requester) external view returns (uint256) {
        Deposit memory d = _deposits[requester];
        return d.balance - d.pendingWithdrawal;
    }

    // ───────────────────────────────────────────────────────────── tickets

    /// @notice Redeems one ticket of a signed batch. The Merkle leaf is
    /// `keccak256(keccak256(abi.encode(hashTicket(ticket), index)))` (OpenZeppelin's standard tree
    /// with leaf encoding `["bytes32","uint256"]`); `index` binds the leaf to its bit in the
    /// redeemed bitmap, so a leaf can be redeemed once.
    function redeem(Batch calldata batch, bytes calldata signature, Ticket calldata ticket, uint256 index, bytes32[] calldata proof)
        external
        whenNotPaused
        nonReentrant
    {
        _checkBatch(batch, signature);
        bytes32 leaf = _leaf(ticket, index);
        if (!MerkleProof.verifyCalldata(proof, batch.root, leaf)) revert InvalidMerkleProof(batch.root, index);
        _markRedeemed(batch.root, index);
        uint256 cost = ticket.amount + ticket.verifierFee;
        _debit(ticket.requester, cost);
        _emitRedeemed(batch.root, ticket, index);
        if (ticket.amount > 0) token.safeTransfer(ticket.node, ticket.amount);
        if (ticket.verifierFee > 0) token.safeTransfer(ticket.verifier, ticket.verifierFee);
    }

    /// @notice Redeems many tickets of one batch with one signature check and one Merkle multiproof
    /// (`tickets`/`indices` in the order of the multiproof's leaves). Payments are summed per payee
    /// and debits per requester; all tickets are redeemed or the call reverts.
    function redeemMany(
        Batch calldata batch,
        bytes calldata signature,
        Ticket[] calldata tickets,
        uint256[] calldata indices,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) external whenNotPaused nonReentrant {
        uint256 n = tickets.length;
        if (n == 0 || indices.length != n) revert LengthMismatch();
        _checkBatch(batch, signature);
        bytes32[] memory leaves = new bytes32[](n);
        // Distinct payees/requesters are few (a node redeems its own tickets), so linear scans
        // over small memory arrays beat any storage-backed aggregation.
        address[] memory payees = new address[](2 * n);
        uint256[] memory owed = new uint256[](2 * n);
        uint256 payeeCount;
        address[] memory requesters = new address[](n);
        uint256[] memory debits = new uint256[](n);
        uint256 requesterCount;
        bytes32 root = batch.root;
        for (uint256 i = 0; i < n; ++i) {
            Ticket calldata t = tickets[i];
            uint256 index = indices[i];
            leaves[i] = _leaf(t, index);
            _markRedeemed(root, index);
            payeeCount = _accumulate(payees, owed, payeeCount, t.node, t.amount);
            payeeCount = _accumulate(payees, owed, payeeCount, t.verifier, t.verifierFee);
            requesterCount = _accumulate(requesters, debits, requesterCount, t.requester, t.amount + t.verifierFee);
            _emitRedeemed(root, t, index);
        }
        if (!MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, leaves)) revert InvalidMerkleProof(root, indices[0]);
        for (uint256 i = 0; i < requesterCount; ++i) _debit(requesters[i], debits[i]);
        for (uint256 i = 0; i < payeeCount; ++i) {
            if (owed[i] > 0) token.safeTransfer(payees[i], owed[i]);
        }
    }

    /// @notice Burns `amount` of a node's free stake for an L2 SubJob attempt it declined, let time
    /// out or got rejected (SPEC §4's penalties, applied by the Execution Layer, where the SubJob
    /// itself never touches the chain). `reasonId` names the attempt, so a retry cannot burn twice.
    function penalize(address node, uint256 amount, bytes32 reasonId)
        external
        whenNotPaused
        nonReentrant
        onlyRole(VERIFIER_ROLE)
    {
        if (penaltyApplied[reasonId]) revert PenaltyAlreadyApplied(reasonId);
        Node storage n = _nodes[node];
        if (!n.registered) revert NodeNotRegistered(node);
        uint256 free = n.stake - n.locked;
        if (amount > free) revert InsufficientFreeStake(node, amount, free);
        penaltyApplied[reasonId] = true;
        n.stake -= uint128(amount);
        totalBurned += amount;
        ERC20Burnable(address(token)).burn(amount);
        emit L2PenaltyBurned(node, reasonId, amount);
    }

    function isRedeemed(bytes32 root, uint256 index) external view returns (bool) {
        return (_redeemed[root][index >> 8] >> (index & 0xff)) & 1 == 1;
    }

    /// @notice EIP-712 struct hash of a ticket (the first half of its Merkle leaf).
    function hashTicket(Ticket calldata t) public pure returns (bytes32) {
        return keccak256(abi.encode(TICKET_TYPEHASH, t.jobId, t.subJobId, t.node, t.requester, t.amount, t.verifier, t.verifierFee));
    }

    /// @notice The EIP-712 digest a signer signs for `batch` on this chain and contract.
    function batchDigest(Batch calldata batch) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(BATCH_TYPEHASH, batch.batchId, batch.root, batch.total)));
    }

    // ───────────────────────────────────────────────────────────── internals

    function _checkBatch(Batch calldata batch, bytes calldata signature) private view {
        address signer = ECDSA.recoverCalldata(batchDigest(batch), signature);
        if (!hasRole(SIGNER_ROLE, signer)) revert InvalidBatchSigner(signer);
    }

    function _leaf(Ticket calldata t, uint256 index) private pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(hashTicket(t), index))));
    }

    function _markRedeemed(bytes32 root, uint256 index) private {
        mapping(uint256 => uint256) storage words = _redeemed[root];
        uint256 word = words[index >> 8];
        uint256 bit = 1 << (index & 0xff);
        if (word & bit != 0) revert TicketAlreadyRedeemed(root, index);
        words[index >> 8] = word | bit;
    }

    /// @dev Debits a requester's deposit, shrinking a pending withdrawal that no longer fits
    /// (redemption takes precedence over withdrawal).
    function _debit(address requester, uint256 amount) private {
        Deposit storage d = _deposits[requester];
        uint256 balance = d.balance;
        if (amount > balance) revert InsufficientDeposit(requester, amount, balance);
        balance -= amount;
        d.balance = uint128(balance);
        if (d.pendingWithdrawal > balance) d.pendingWithdrawal = uint128(balance);
    }

    function _emitRedeemed(bytes32 root, Ticket calldata t, uint256 index) private {
        emit TicketRedeemed(root, t.subJobId, index, t.jobId, t.node, t.requester, t.amount, t.verifier, t.verifierFee);
    }

    function _accumulate(address[] memory keys, uint256[] memory sums, uint256 count, address key, uint256 amount)
        private
        pure
        returns (uint256)
    {
        for (uint256 i = 0; i < count; ++i) {
            if (keys[i] == key) {
                sums[i] += amount;
                return count;
            }
        }
        keys[count] = key;
        sums[count] = amount;
        return count + 1;
    }

    /// @dev Burns the penalty for `rate` (capped by the deposit) from the node's stake and unlocks
    /// the rest of the deposit.
    function _penalize(bytes32 jobId, uint256 index, Job storage job, SubJob storage s, PenaltyReason reason, uint256 rate)
        private
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

    function _reofferOrFail(bytes32 jobId, uint256 index, Job storage job, SubJob storage s) private {
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
    function _fail(bytes32 jobId, uint256 index, Job storage job, SubJob storage s) private {
        uint256 refund = uint256(s.fuelLimit) * job.fuelPrice + s.verifierFee;
        s.status = SubJobStatus.Failed;
        job.escrow -= uint128(refund);
        ++job.failedCount;
        emit SubJobFailed(jobId, index, refund);
        _closeSubJob(jobId, job);
        token.safeTransfer(job.requester, refund);
    }

    function _closeSubJob(bytes32 jobId, Job storage job) private {
        if (--job.openCount == 0) {
            job.status = JobStatus.Finished;
            emit JobFinished(jobId, job.verifiedCount, job.failedCount);
        }
    }

    function _existingJob(bytes32 jobId) private view returns (Job storage job) {
        job = _jobs[jobId];
        if (job.status == JobStatus.None) revert UnknownJob(jobId);
    }

    function _existingSubJob(bytes32 jobId, uint256 index, Job storage job) private view returns (SubJob storage s) {
        if (job.status != JobStatus.Split) revert InvalidJobStatus(jobId, job.status);
        if (index >= job.subJobCount) revert UnknownSubJob(jobId, index);
        s = _subJobs[jobId][index];
    }

    function _subJobIn(bytes32 jobId, uint256 index, SubJobStatus expected)
        private
        view
        returns (Job storage job, SubJob storage s)
    {
        job = _existingJob(jobId);
        s = _existingSubJob(jobId, index, job);
        if (s.status != expected) revert InvalidSubJobStatus(jobId, index, s.status);
    }

    function _registeredNode(address node) private view returns (Node storage n) {
        n = _nodes[node];
        if (!n.registered) revert NodeNotRegistered(node);
    }

    function _rate(Parameter parameter, uint256 value) private pure returns (uint256) {
        if (value > BPS) revert InvalidParameter(parameter, value);
        return value;
    }

    function _u128(uint256 value) private pure returns (uint128) {
        if (value > type(uint128).max) revert AmountTooLarge(value);
        return uint128(value);
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }
}
