// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/**
 * @title EmethToken
 * @notice The EMETH token: ERC-20, 18 decimals (base unit: holon; 1 Gholon = 1e9 holon), burnable.
 * Penalties in EmethCore are burned with {ERC20Burnable-burn}. The owner may mint, which the demo
 * and the tests use to fund accounts; a production deployment would renounce ownership after the
 * initial distribution.
 */
contract EmethToken is ERC20, ERC20Burnable, Ownable {
    constructor(address initialOwner) ERC20("EMETH", "EMETH") Ownable(initialOwner) {}

    /// @notice Mints `amount` holon to `to`. Owner only.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
