// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {EmethBase} from "./EmethBase.sol";

/**
 * @title EmethCore
 * @notice EMETH's money: program registry, node staking, L2 requester deposits and commitments,
 * per-attempt stake locks, and the redemption of signed ticket batches; the L1 jobs with escrow run
 * in its extension {EmethL1} (through {fallback}). Every amount is in holon (1e-18 EMETH); every
 * rate is in basis points (10_000 = 100%). The rules are SPEC.md §3-§5; `lib/fees.ts` computes the
 * same numbers off-chain and {quote}/{splitShares} expose the contract's side for comparison.
 *
 * L2 money rule — why verified work is always payable (docs/contracts.md, "Commitments"):
 *   1. The L2 commits part of a requester's deposit to a Job with the requester's EIP-712 `Commit`
 *      signature; committed money is neither free (`freeDeposit`) nor withdrawable.
 *   2. A ticket is paid only from its Job's commitment and never beyond its batch's `total`, so a
 *      leaked Signer key can spend no more than requesters committed, and only on their Jobs.
 *   3. `settleCommitment` lowers a Job's commitment to what was ticketed; after its signed
 *      deadline the requester may reclaim what was not redeemed (nodes redeem before then).
 *   4. Each L2 attempt locks its worst-case penalty from the node's stake (`lockStake`); an
 *      unstake request cannot take locked stake and `penalize` takes from the attempt's lock.
 *
 * One file over 300 lines: a contract's external surface cannot be split across files without
 * another delegation hop; the parts are in sections (setup, programs, nodes, deposits,
 * commitments, stake locks, tickets, internals).
 */
contract EmethCore is EmethBase, EIP712 {
    using SafeERC20 for IERC20;

    error InvalidExtension(address l1);

    // ───────────────────────────────────────────────────────────── setup

    /// @notice Where the L1 job functions run (see {fallback}); deployed with the same token.
    address public immutable l1;

    /// @param token_ the EmethToken (must be burnable: penalties are burned).
    /// @param admin the owner/governance address (DEFAULT_ADMIN_ROLE).
    /// @param l1_ the {EmethL1} extension, deployed for `token_`.
    constructor(IERC20 token_, address admin, address l1_) EmethBase(token_) EIP712("EmethCore", "1") {
        if (address(EmethBase(l1_).token()) != address(token_)) revert InvalidExtension(l1_);
        l1 = l1_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice The L1 job functions (request … timeout, getJob, getSubJob, quote, splitShares) run
    /// in {EmethL1} on this contract's storage: EIP-170 leaves no room for them here. Their ABI is
    /// part of EmethCore's (contracts/compile.ts merges it), so callers see one contract.
    fallback() external {
        address target = l1;
        assembly ("memory-safe") {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), target, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    /// @notice Sets one governance parameter. Rates are basis points; times are seconds.
    /// Rates are capped at 100%, maxRetries at 255, and the withdrawal delay must stay longer than
    /// the signer interval (docs/contracts.md, withdrawal rule).
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
        } else if (parameter == Parameter.MinNodeStake) (old, minNodeStake) = (minNodeStake, value);
        else if (parameter == Parameter.TimeoutGrace) (old, timeoutGrace) = (timeoutGrace, value);
        else (old, proverShare) = (proverShare, _rate(parameter, value));
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

    // ───────────────────────────────────────────────────────────── L2 deposits

    function deposit(uint256 amount) external whenNotPaused nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Deposit storage d = _deposits[msg.sender];
        d.balance = _u128(d.balance + amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(msg.sender, amount, d.balance);
    }

    /// @notice Earmarks `amount` of the free deposit (never committed money) for withdrawal after
    /// `withdrawalDelay`. A new request adds to the pending amount and restarts the delay.
    function requestWithdrawal(uint256 amount) external whenNotPaused {
        if (amount == 0) revert ZeroAmount();
        Deposit storage d = _deposits[msg.sender];
        uint256 free = _free(d);
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

    /// @notice Pays the pending withdrawal once its delay has passed. Committed money never leaves
    /// (the invariant committed + pending ≤ balance; the min is a second guard).
    function withdraw() external whenNotPaused nonReentrant {
        Deposit storage d = _deposits[msg.sender];
        uint256 pending = d.pendingWithdrawal;
        if (pending == 0) revert NoPendingWithdrawal(msg.sender);
        if (block.timestamp < d.withdrawableAt) revert WithdrawalNotReady(msg.sender, d.withdrawableAt);
        uint256 amount = _min(pending, d.balance - d.committed);
        d.balance -= uint128(amount);
        d.pendingWithdrawal = 0;
        d.withdrawableAt = 0;
        if (amount > 0) token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount, d.balance);
    }

    function getDeposit(address requester) external view returns (Deposit memory) {
        return _deposits[requester];
    }

    /// @notice Deposit neither committed to a Job nor earmarked for withdrawal: what the L2 may
    /// still commit.
    function freeDeposit(address requester) external view returns (uint256) {
        return _free(_deposits[requester]);
    }

    // ───────────────────────────────────────────────────────────── L2 commitments

    /// @notice The L2 commits `c.amount` of `c.requester`'s free deposit to Job `c.jobId`, with the
    /// requester's EIP-712 `Commit` signature. Repeating an identical commit is a no-op.
    function commit(Commit calldata c, bytes calldata signature) external whenNotPaused onlyRole(L2_SERVER_ROLE) {
        Commitment storage m = _commitments[c.requester][c.jobId];
        if (m.deadline != 0) {
            if (m.deadline == c.deadline && m.amount == c.amount) return;
            revert CommitmentExists(c.requester, c.jobId);
        }
        if (block.timestamp > c.deadline || c.deadline > type(uint64).max) revert CommitExpired(c.jobId, c.deadline);
        if (c.amount == 0) revert ZeroAmount();
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(COMMIT_TYPEHASH, c.requester, c.jobId, c.amount, c.deadline)));
        address signer = ECDSA.recoverCalldata(digest, signature);
        if (signer != c.requester) revert InvalidCommitSignature(c.requester, signer);
        Deposit storage d = _deposits[c.requester];
        uint256 free = _free(d);
        if (c.amount > free) revert InsufficientFreeDeposit(c.requester, c.amount, free);
        d.committed += uint128(c.amount);
        (m.amount, m.deadline) = (uint128(c.amount), uint64(c.deadline));
        emit Committed(c.requester, c.jobId, c.amount, c.deadline);
    }

    /// @notice At a Job's settlement the L2 lowers its commitment to `total`, the sum of every
    /// ticket issued for it (redeemed or not), and frees the rest. Repeating it is a no-op.
    function settleCommitment(address requester, bytes32 jobId, uint256 total)
        external
        whenNotPaused
        onlyRole(L2_SERVER_ROLE)
    {
        Commitment storage m = _existingCommitment(requester, jobId);
        if (m.settled) {
            if (total == m.amount) return;
            revert CommitmentAlreadySettled(requester, jobId);
        }
        if (total < m.spent || total > m.amount) revert SettlementOutOfRange(jobId, total, m.spent, m.amount);
        uint256 released = m.amount - total;
        m.amount = uint128(total);
        m.settled = true;
        _deposits[requester].committed -= uint128(released);
        emit CommitmentSettled(requester, jobId, total, released);
    }

    /// @notice After a commitment's deadline its requester frees what was not redeemed (so an absent
    /// L2 cannot freeze a deposit); tickets of the Job can no longer be redeemed.
    function reclaimCommitment(bytes32 jobId) external whenNotPaused {
        Commitment storage m = _existingCommitment(msg.sender, jobId);
        if (block.timestamp <= m.deadline) revert CommitmentNotExpired(jobId, m.deadline);
        uint256 released = m.amount - m.spent;
        m.amount = m.spent;
        m.settled = true;
        _deposits[msg.sender].committed -= uint128(released);
        emit CommitmentReclaimed(msg.sender, jobId, released);
    }

    function getCommitment(address requester, bytes32 jobId) external view returns (Commitment memory) {
        return _commitments[requester][jobId];
    }

    // ───────────────────────────────────────────────────────────── L2 stake locks

    /// @notice Holds back `amount` (the attempt's worst-case penalty) of `node`'s free stake while
    /// attempt `attemptId` is open. Repeating an identical lock is a no-op; an id is used once.
    function lockStake(address node, bytes32 attemptId, uint256 amount) external whenNotPaused onlyRole(L2_SERVER_ROLE) {
        StakeLock storage l = _stakeLocks[attemptId];
        if (l.node != address(0)) {
            if (l.node == node && l.amount == amount && !l.closed) return;
            revert StakeLockExists(attemptId);
        }
        Node storage n = _registeredNode(node);
        uint256 free = n.stake - n.locked;
        if (amount > free) revert InsufficientFreeStake(node, amount, free);
        n.locked += uint128(amount);
        (l.node, l.amount) = (node, uint128(amount));
        emit StakeLocked(node, attemptId, amount);
    }

    /// @notice Gives an attempt's locked stake back to the node's free stake when the attempt closes
    /// without a penalty. Releasing a closed lock is a no-op.
    function releaseStake(bytes32 attemptId) external whenNotPaused onlyRole(L2_SERVER_ROLE) {
        StakeLock storage l = _stakeLocks[attemptId];
        if (l.node == address(0)) revert UnknownStakeLock(attemptId);
        if (l.closed) return;
        _closeLock(attemptId, l);
    }

    function getStakeLock(bytes32 attemptId) external view returns (StakeLock memory) {
        return _stakeLocks[attemptId];
    }

    // ───────────────────────────────────────────────────────────── tickets

    /// @notice Redeems one ticket of a signed batch. The Merkle leaf is
    /// `keccak256(keccak256(abi.encode(hashTicket(ticket), index)))` (OpenZeppelin's standard tree
    /// with leaf encoding `["bytes32","uint256"]`); `index` binds the leaf to its bit in the
    /// redeemed bitmap, so a leaf can be redeemed once. The ticket is paid from its Job's commitment
    /// and never beyond the batch's total.
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
        _addToBatch(batch, cost);
        _spend(ticket.requester, ticket.jobId, cost);
        _debit(ticket.requester, cost);
        _emitRedeemed(batch.root, ticket, index);
        if (ticket.amount > 0) token.safeTransfer(ticket.node, ticket.amount);
        if (ticket.verifierFee > 0) token.safeTransfer(ticket.verifier, ticket.verifierFee);
    }

    /// @notice Redeems many tickets of one batch with one signature check and one Merkle multiproof
    /// (`tickets`/`indices` in the order of the multiproof's leaves). Payments are summed per payee
    /// and debits per requester, each ticket spends its Job's commitment; all tickets are redeemed
    /// or the call reverts.
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
        // Distinct payees/requesters are few (a node or a verifier redeems its own tickets), so
        // linear scans over small memory arrays beat any storage-backed aggregation. A zero part is
        // not a payee: an L2 ticket pays its node or its verifier, and a verifier's fee tickets name
        // many nodes that they pay nothing.
        address[] memory payees = new address[](2 * n);
        uint256[] memory owed = new uint256[](2 * n);
        uint256 payeeCount;
        address[] memory requesters = new address[](n);
        uint256[] memory debits = new uint256[](n);
        uint256 requesterCount;
        uint256 total;
        bytes32 root = batch.root;
        for (uint256 i = 0; i < n; ++i) {
            Ticket calldata t = tickets[i];
            uint256 index = indices[i];
            uint256 cost = t.amount + t.verifierFee;
            leaves[i] = _leaf(t, index);
            _markRedeemed(root, index);
            if (t.amount > 0) payeeCount = _accumulate(payees, owed, payeeCount, t.node, t.amount);
            if (t.verifierFee > 0) payeeCount = _accumulate(payees, owed, payeeCount, t.verifier, t.verifierFee);
            requesterCount = _accumulate(requesters, debits, requesterCount, t.requester, cost);
            // Spent ticket by ticket: after a Job's first ticket its commitment slot is warm and dirty
            // (~200 gas a ticket), cheaper than aggregating over many Jobs in memory.
            _spend(t.requester, t.jobId, cost);
            total += cost;
            _emitRedeemed(root, t, index);
        }
        if (!MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, leaves)) revert InvalidMerkleProof(root, indices[0]);
        _addToBatch(batch, total);
        for (uint256 i = 0; i < requesterCount; ++i) _debit(requesters[i], debits[i]);
        for (uint256 i = 0; i < payeeCount; ++i) token.safeTransfer(payees[i], owed[i]);
    }

    /// @notice Burns `amount` of a node's stake for an L2 SubJob attempt it declined, let time out or
    /// got rejected (SPEC §4's penalties, applied by the Execution Layer, where the SubJob itself
    /// never touches the chain). `reasonId` names the attempt, so a retry cannot burn twice; when the
    /// attempt's stake was locked under the same id ({lockStake}), the lock pays first and closes.
    function penalize(address node, uint256 amount, bytes32 reasonId)
        external
        whenNotPaused
        nonReentrant
        onlyRole(L2_SERVER_ROLE)
    {
        _takeStake(node, amount, reasonId);
        _burn(amount);
        emit L2PenaltyBurned(node, reasonId, amount);
    }

    /// @notice Fines `node` (a node, or a verifier with stake) `amount` of its stake for a lie
    /// proven on an L2 SubJob, as {penalize} does, but adds {proverShare} of it to the stake of
    /// `prover`, the registered verifier or honest replica that proved the lie, and burns the rest.
    /// The reward makes checking worth a prover's while (it leaves like any stake, through
    /// {requestUnstake}); the burned rest means a liar and a prover it colludes with still lose
    /// money on every fine.
    function fine(address node, uint256 amount, bytes32 reasonId, address prover)
        external
        whenNotPaused
        nonReentrant
        onlyRole(L2_SERVER_ROLE)
    {
        if (prover == node) revert InvalidProver(prover);
        _takeStake(node, amount, reasonId);
        uint256 reward = _reward(prover, amount);
        uint256 burned = amount - reward;
        _burn(burned);
        emit L2PenaltyBurned(node, reasonId, burned);
        emit L2FineRewarded(node, reasonId, prover, reward);
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

    /// @dev Debits committed money from a requester's deposit (its Job's commitment was spent by
    /// {_spend}, so balance ≥ committed ≥ amount; the check is a second guard).
    function _debit(address requester, uint256 amount) private {
        Deposit storage d = _deposits[requester];
        uint256 committed = d.committed;
        if (amount > committed) revert InsufficientDeposit(requester, amount, committed);
        d.balance -= uint128(amount);
        d.committed = uint128(committed - amount);
    }

    /// @dev Spends `cost` of the (requester, job) commitment; refuses a ticket beyond it.
    function _spend(address requester, bytes32 jobId, uint256 cost) private {
        Commitment storage m = _commitments[requester][jobId];
        uint256 spent = m.spent + cost;
        if (spent > m.amount) revert TicketExceedsCommitment(requester, jobId, cost, m.amount - m.spent);
        m.spent = uint128(spent);
    }

    /// @dev Adds `cost` to what the batch paid; refuses going beyond its signed total.
    function _addToBatch(Batch calldata batch, uint256 cost) private {
        uint256 redeemed = batchRedeemed[batch.root] + cost;
        if (redeemed > batch.total) revert BatchTotalExceeded(batch.root, redeemed, batch.total);
        batchRedeemed[batch.root] = redeemed;
    }

    /// @dev Takes `amount` of `node`'s stake once per `reasonId`, its attempt's lock paying first.
    function _takeStake(address node, uint256 amount, bytes32 reasonId) private {
        if (penaltyApplied[reasonId]) revert PenaltyAlreadyApplied(reasonId);
        Node storage n = _registeredNode(node);
        StakeLock storage l = _stakeLocks[reasonId];
        if (l.node == node && !l.closed) _closeLock(reasonId, l);
        uint256 free = n.stake - n.locked;
        if (amount > free) revert InsufficientFreeStake(node, amount, free);
        penaltyApplied[reasonId] = true;
        n.stake -= uint128(amount);
    }

    function _burn(uint256 amount) private {
        totalBurned += amount;
        if (amount > 0) ERC20Burnable(address(token)).burn(amount);
    }

    /// @dev Adds the prover's share of a fine of `amount` to its stake.
    function _reward(address prover, uint256 amount) private returns (uint256 reward) {
        Node storage p = _registeredNode(prover);
        reward = (amount * proverShare) / 10_000;
        p.stake += uint128(reward);
    }

    function _closeLock(bytes32 attemptId, StakeLock storage l) private {
        uint256 amount = l.amount;
        l.closed = true;
        _nodes[l.node].locked -= uint128(amount);
        emit StakeReleased(l.node, attemptId, amount);
    }

    function _existingCommitment(address requester, bytes32 jobId) private view returns (Commitment storage m) {
        m = _commitments[requester][jobId];
        if (m.deadline == 0) revert UnknownCommitment(requester, jobId);
    }

    function _free(Deposit storage d) private view returns (uint256) {
        return d.balance - d.committed - d.pendingWithdrawal;
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
}
