"""Sportstensor SN41 "Almanac" trader scoring (../shared/spec/almanac_sn41.md), as pure functions.

`records` checks the API's trade records column by column, `matrices` builds the §3 epoch matrices for
an explicit evaluation boundary, `pool` derives the §5 vectors, kappa (§6) and eligibility (§7),
`phases` holds the closed forms of Phase 1 and Phase 2 (§8, §9), `solver` the cvxpy formulation that
cross-checks them, `scoring` the budgets, tokens and fee floor (§4, §11, §12) of a whole snapshot, and
`weights` the profile verification (§14) and weight formation (§13).
"""
