// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {EmethBase} from "./EmethBase.sol";

/// @notice The one view of {EmethCore} this contract reads: a node's registration and stake.
interface IEmethNodes {
    function getNode(address node) external view returns (EmethBase.Node memory);
}

/**
 * @title EmethMining
 * @notice The GPU Mining Program (white paper §3-4, SPEC.md §6): every epoch (an hour in
 * production) a reward pool is shared among nodes in proportion to the verified work (fuel) they
 * did in it. Every amount is in holon (1e-18 EMETH).
 *
 * Schedule — the paper's, made exact:
 *   The paper says "12,000 EMETH an hour, falling by 600 each year, zero after 20 years". So the
 *   scheduled pool of epoch e is a linear step decay (not a halving: the paper's decrement is a
 *   constant amount, not a ratio):
 *       scheduledReward(e) = max(0, initialReward − rewardStep × floor(e / stepEpochs))
 *   Production parameters: epochLength = 3,600 s, initialReward = 12,000 EMETH,
 *   rewardStep = 600 EMETH, stepEpochs = 8,760 (365 days of hours; the paper's "year", leap days
 *   ignored) → 12,000 for epochs 0…8,759, 11,400 for the second year, …, 600 in the 20th year and
 *   0 from epoch 175,200 on. Epoch 0 starts at `genesis`; epoch e covers
 *   [genesis + e × epochLength, genesis + (e + 1) × epochLength).
 *
 * Funding — the contract mints nothing:
 *   The pool is what has been transferred in ({fund}, or a plain ERC-20 transfer: both count)
 *   and is not yet allocated to a posted epoch: unallocated = balance − outstanding, where
 *   `outstanding` is what posted epochs allocated and nobody has claimed or swept yet. When an
 *   epoch is posted, its pool is fixed at min(scheduledReward(e), unallocated), so an underfunded
 *   program pays less rather than promising what it does not hold. An epoch posted with zero total
 *   fuel allocates nothing: its scheduled emission stays unallocated (it is not carried into any
 *   particular later epoch, whose pool is still capped by its own schedule; it simply lengthens the
 *   funded life of the program).
 *
 * Epoch rule: once an epoch has ended, the L2 (EPOCH_POSTER_ROLE) posts it once: a Merkle root over
 * leaves (node, epoch, fuel) in OpenZeppelin's standard tree encoding
 * `keccak256(bytes.concat(keccak256(abi.encode(node, epoch, fuel))))` — the epoch is in the leaf
 * so a proof cannot be replayed in another epoch — and the epoch's total verified fuel. Posting an
 * unfinished epoch, or one already posted, reverts. Epochs may be posted in any order (a missed
 * hour can be posted late); each is capped by what is unallocated when it is posted.
 *
 * Claim rule: a node claims `pool × fuel / totalFuel` for each posted epoch, rounded down, once per
 * (epoch, node), only for itself (msg.sender == node: a claim for another node is refused, so
 * nobody can choose when or in which transaction someone else is paid), and only while
 *   - the epoch's claim window is open: claims close `claimWindow` epochs (claimWindow ×
 *     epochLength seconds) after the epoch was posted — counted from the posting, not from the
 *     epoch's end, so a late root never shortens the nodes' time to claim; and
 *   - the node is registered on EmethCore with `stake ≥ minMiningStake` at claim time (the stake
 *     as EmethCore reports it: locked stake counts, stake already requested for unstaking does
 *     not, since EmethCore no longer holds it at risk). The stake is checked when the reward is
 *     paid, not when the work was done: a node that unstakes before claiming loses the reward.
 * The sum of an epoch's claims can never exceed its pool: each claim is checked against the
 * epoch's running total (a poster who understated totalFuel cannot overdraw the contract either).
 *
 * Unclaimed rule: once an epoch's claim window has closed, anyone may {sweep} it; what was not
 * claimed — rewards nobody claimed and the rounding dust of the floor division (at most one holon
 * per leaf) — returns to the unallocated pool. Before the sweep, the dust stays in the epoch.
 */
contract EmethMining is AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    // ───────────────────────────────────────────────────────────── roles and types

    /// @notice Posts each finished epoch's root and total verified fuel (the L2 server).
    bytes32 public constant EPOCH_POSTER_ROLE = keccak256("EPOCH_POSTER_ROLE");

    struct Epoch {
        bytes32 root; // Merkle root over (node, epoch, fuel); zero when totalFuel is zero
        uint256 totalFuel; // Σ fuel over the epoch's leaves, as posted
        uint128 pool; // allocated at posting: min(scheduledReward, unallocated); 0 when totalFuel is 0
        uint128 claimed; // Σ claims so far; never above pool
        uint64 claimDeadline; // claims allowed while block.timestamp < claimDeadline
        bool posted;
        bool swept;
    }

    // ───────────────────────────────────────────────────────────── state

    IERC20 public immutable token;
    /// @notice EmethCore, read for node stakes.
    IEmethNodes public immutable core;
    /// @notice Start of epoch 0 (unix seconds).
    uint256 public immutable genesis;
    /// @notice Seconds per epoch (3,600 in production).
    uint256 public immutable epochLength;
    /// @notice Pool of each epoch of the first step (holon).
    uint256 public immutable initialReward;
    /// @notice What the pool falls by at each step (holon).
    uint256 public immutable rewardStep;
    /// @notice Epochs per step (8,760 hourly epochs = one year in production).
    uint256 public immutable stepEpochs;

    /// @notice Stake (holon, on EmethCore) a node needs at claim time.
    uint256 public minMiningStake;
    /// @notice Epochs (of `epochLength` seconds) an epoch stays claimable after it is posted;
    /// applies to epochs posted after a change.
    uint256 public claimWindow;
    /// @notice Allocated to posted epochs and neither claimed nor swept yet.
    uint256 public outstanding;
    /// @notice Every EMETH ever paid to nodes by this contract.
    uint256 public totalClaimed;

    mapping(uint256 epoch => Epoch) internal _epochs;
    mapping(uint256 epoch => mapping(address node => bool)) public hasClaimed;

    // ───────────────────────────────────────────────────────────── events

    event Funded(address indexed from, uint256 amount, uint256 unallocated);
    event EpochPosted(
        uint256 indexed epoch, bytes32 root, uint256 totalFuel, uint256 pool, uint256 scheduled, uint256 claimDeadline
    );
    event RewardClaimed(uint256 indexed epoch, address indexed node, uint256 fuel, uint256 amount);
    event EpochSwept(uint256 indexed epoch, uint256 returned, uint256 unallocated);
    event MinMiningStakeChanged(uint256 oldValue, uint256 newValue);
    event ClaimWindowChanged(uint256 oldValue, uint256 newValue);

    // ───────────────────────────────────────────────────────────── errors

    error InvalidConfig();
    error BeforeGenesis(uint256 genesis);
    error ZeroAmount();
    error LengthMismatch();
    error EpochNotEnded(uint256 epoch, uint256 endsAt);
    error EpochAlreadyPosted(uint256 epoch);
    error EpochNotPosted(uint256 epoch);
    error InvalidRoot(uint256 epoch, bytes32 root, uint256 totalFuel);
    error NotNode(address caller, address node);
    error AlreadyClaimed(uint256 epoch, address node);
    error InvalidProof(uint256 epoch, address node, uint256 fuel);
    error NodeNotRegistered(address node);
    error MiningStakeTooLow(address node, uint256 stake, uint256 minimum);
    error ClaimWindowClosed(uint256 epoch, uint256 deadline);
    error ClaimWindowOpen(uint256 epoch, uint256 deadline);
    error AlreadySwept(uint256 epoch);
    error PoolExceeded(uint256 epoch, uint256 claimed, uint256 pool);

    // ───────────────────────────────────────────────────────────── setup

    /// @param token_ the EmethToken.
    /// @param core_ EmethCore (its `getNode` gives the stake that makes a node eligible).
    /// @param admin the owner/governance address (DEFAULT_ADMIN_ROLE; grants EPOCH_POSTER_ROLE).
    /// @param epochLength_ seconds per epoch (3,600 in production; any positive value for tests).
    /// @param genesis_ start of epoch 0 (unix seconds).
    /// @param initialReward_ the pool of each epoch of the first step (12,000 EMETH in production).
    /// @param rewardStep_ the decrement per step (600 EMETH in production).
    /// @param stepEpochs_ epochs per step (8,760 in production).
    /// @param minMiningStake_ stake a node needs on EmethCore at claim time.
    /// @param claimWindow_ epochs an epoch stays claimable after it is posted.
    constructor(
        IERC20 token_,
        address core_,
        address admin,
        uint256 epochLength_,
        uint256 genesis_,
        uint256 initialReward_,
        uint256 rewardStep_,
        uint256 stepEpochs_,
        uint256 minMiningStake_,
        uint256 claimWindow_
    ) {
        // A pool is at most initialReward, so the uint128 pool and claimed fields of an Epoch are
        // exact; a zero claim window would close every epoch as it is posted.
        if (
            address(token_) == address(0) || core_ == address(0) || admin == address(0) || epochLength_ == 0
                || stepEpochs_ == 0 || initialReward_ > type(uint128).max || claimWindow_ == 0
        ) revert InvalidConfig();
        token = token_;
        core = IEmethNodes(core_);
        epochLength = epochLength_;
        genesis = genesis_;
        initialReward = initialReward_;
        rewardStep = rewardStep_;
        stepEpochs = stepEpochs_;
        minMiningStake = minMiningStake_;
        claimWindow = claimWindow_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Sets the stake a node needs at claim time (applies to every later claim).
    function setMinMiningStake(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        emit MinMiningStakeChanged(minMiningStake, value);
        minMiningStake = value;
    }

    /// @notice Sets the claim window, in epochs; epochs already posted keep their deadline.
    function setClaimWindow(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (value == 0) revert InvalidConfig();
        emit ClaimWindowChanged(claimWindow, value);
        claimWindow = value;
    }

    // ───────────────────────────────────────────────────────────── funding

    /// @notice Adds `amount` of the caller's EMETH (approved to this contract) to the unallocated pool.
    function fund(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Funded(msg.sender, amount, unallocated());
    }

    /// @notice What later epochs can still be allocated: the balance less what posted epochs hold.
    function unallocated() public view returns (uint256) {
        return token.balanceOf(address(this)) - outstanding;
    }

    // ───────────────────────────────────────────────────────────── schedule

    /// @notice The epoch containing `timestamp` (reverts before genesis).
    function epochAt(uint256 timestamp) public view returns (uint256) {
        if (timestamp < genesis) revert BeforeGenesis(genesis);
        return (timestamp - genesis) / epochLength;
    }

    /// @notice The epoch now in progress (reverts before genesis).
    function currentEpoch() external view returns (uint256) {
        return epochAt(block.timestamp);
    }

    /// @notice When `epoch` ends: from then on it can be posted.
    function epochEnd(uint256 epoch) public view returns (uint256) {
        return genesis + (epoch + 1) * epochLength;
    }

    /// @notice The schedule's pool for `epoch`, before the funding cap (see the contract's NatSpec).
    function scheduledReward(uint256 epoch) public view returns (uint256) {
        uint256 steps = epoch / stepEpochs;
        // steps × rewardStep may overflow for absurd epochs; compare by division first.
        if (rewardStep != 0 && steps >= Math.ceilDiv(initialReward, rewardStep)) return 0;
        return initialReward - steps * rewardStep;
    }

    // ───────────────────────────────────────────────────────────── epochs

    /// @notice Posts a finished epoch: the root over its (node, epoch, fuel) leaves and their total
    /// fuel, and allocates its pool, min(scheduledReward(epoch), unallocated()). Once per epoch.
    /// @dev `totalFuel` is trusted (the poster is the L2 that computed the tree); what it cannot
    /// do is make claims exceed the allocated pool, which {claim} enforces.
    function postEpoch(uint256 epoch, bytes32 root, uint256 totalFuel) external onlyRole(EPOCH_POSTER_ROLE) {
        uint256 endsAt = epochEnd(epoch);
        if (block.timestamp < endsAt) revert EpochNotEnded(epoch, endsAt);
        Epoch storage e = _epochs[epoch];
        if (e.posted) revert EpochAlreadyPosted(epoch);
        // A root with no fuel (or fuel with no root) would be a pool nobody or anybody could claim.
        if ((root == bytes32(0)) != (totalFuel == 0)) revert InvalidRoot(epoch, root, totalFuel);

        uint256 scheduled = scheduledReward(epoch);
        uint256 pool = totalFuel == 0 ? 0 : Math.min(scheduled, unallocated());
        uint256 deadline = block.timestamp + claimWindow * epochLength;
        e.root = root;
        e.totalFuel = totalFuel;
        e.pool = uint128(pool); // ≤ initialReward ≤ uint128 max (constructor)
        e.claimDeadline = SafeCast.toUint64(deadline);
        e.posted = true;
        outstanding += pool;
        emit EpochPosted(epoch, root, totalFuel, pool, scheduled, deadline);
    }

    /// @notice One epoch as posted (all zero and `posted == false` before).
    function getEpoch(uint256 epoch) external view returns (Epoch memory) {
        return _epochs[epoch];
    }

    // ───────────────────────────────────────────────────────────── claims

    /// @notice Pays `node` (which must be the caller) its share of `epoch`'s pool for `fuel`,
    /// proven by `proof` against the epoch's root.
    function claim(uint256 epoch, address node, uint256 fuel, bytes32[] calldata proof)
        external
        nonReentrant
        returns (uint256 amount)
    {
        if (msg.sender != node) revert NotNode(msg.sender, node);
        _checkStake(node);
        amount = _claim(epoch, node, fuel, proof);
        if (amount > 0) token.safeTransfer(node, amount);
    }

    /// @notice {claim} for several epochs of the caller in one transfer (a day is 24 epochs).
    function claimMany(uint256[] calldata epochs, uint256[] calldata fuels, bytes32[][] calldata proofs)
        external
        nonReentrant
        returns (uint256 amount)
    {
        if (epochs.length != fuels.length || epochs.length != proofs.length) revert LengthMismatch();
        _checkStake(msg.sender);
        for (uint256 i = 0; i < epochs.length; i++) {
            amount += _claim(epochs[i], msg.sender, fuels[i], proofs[i]);
        }
        if (amount > 0) token.safeTransfer(msg.sender, amount);
    }

    /// @notice What `fuel` of `epoch` is worth (0 before the epoch is posted).
    function rewardOf(uint256 epoch, uint256 fuel) public view returns (uint256) {
        Epoch storage e = _epochs[epoch];
        if (e.totalFuel == 0) return 0;
        return Math.mulDiv(e.pool, fuel, e.totalFuel); // rounded down: the pool is never over-paid
    }

    /// @notice The standard-tree leaf of (node, epoch, fuel), as {claim} checks it.
    function leaf(address node, uint256 epoch, uint256 fuel) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(node, epoch, fuel))));
    }

    // ───────────────────────────────────────────────────────────── unclaimed

    /// @notice After `epoch`'s claim window has closed, returns what it did not pay (unclaimed
    /// rewards and rounding dust) to the unallocated pool. Anyone may call it; once per epoch.
    function sweep(uint256 epoch) external returns (uint256 returned) {
        Epoch storage e = _epochs[epoch];
        if (!e.posted) revert EpochNotPosted(epoch);
        if (e.swept) revert AlreadySwept(epoch);
        if (block.timestamp < e.claimDeadline) revert ClaimWindowOpen(epoch, e.claimDeadline);
        e.swept = true;
        returned = e.pool - e.claimed;
        outstanding -= returned;
        emit EpochSwept(epoch, returned, unallocated());
    }

    // ───────────────────────────────────────────────────────────── internals

    function _checkStake(address node) private view {
        EmethBase.Node memory n = core.getNode(node);
        if (!n.registered) revert NodeNotRegistered(node);
        if (n.stake < minMiningStake) revert MiningStakeTooLow(node, n.stake, minMiningStake);
    }

    function _claim(uint256 epoch, address node, uint256 fuel, bytes32[] calldata proof)
        private
        returns (uint256 amount)
    {
        Epoch storage e = _epochs[epoch];
        if (!e.posted) revert EpochNotPosted(epoch);
        if (block.timestamp >= e.claimDeadline) revert ClaimWindowClosed(epoch, e.claimDeadline);
        if (hasClaimed[epoch][node]) revert AlreadyClaimed(epoch, node);
        if (!MerkleProof.verifyCalldata(proof, e.root, leaf(node, epoch, fuel))) {
            revert InvalidProof(epoch, node, fuel);
        }
        amount = rewardOf(epoch, fuel);
        uint256 claimedAfter = uint256(e.claimed) + amount;
        if (claimedAfter > e.pool) revert PoolExceeded(epoch, claimedAfter, e.pool);
        hasClaimed[epoch][node] = true;
        e.claimed = uint128(claimedAfter); // ≤ pool
        outstanding -= amount;
        totalClaimed += amount;
        emit RewardClaimed(epoch, node, fuel, amount);
    }
}
