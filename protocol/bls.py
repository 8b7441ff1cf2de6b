"""BLS12-381 pieces that timelock encryption and the local beacon need, on top of py_ecc.

Points use the ZCash compressed encoding that drand and arkworks write. GT elements are serialised
in arkworks' tower order, and pairings are normalised to the value arkworks computes, so hashes of
GT elements agree byte for byte with the Rust `tle` crate that bittensor_core decrypts with.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Callable, Generic, TypeVar

from py_ecc.bls.hash_to_curve import hash_to_G1
from py_ecc.bls.point_compression import compress_G1, compress_G2, decompress_G1, decompress_G2
from py_ecc.optimized_bls12_381 import (
    FQ12,
    G2,
    Z2,
    add,
    b,
    b2,
    curve_order,
    field_modulus,
    is_inf,
    is_on_curve,
    multiply,
)
from py_ecc.optimized_bls12_381.optimized_pairing import exp_by_p, miller_loop

Q = curve_order
P = field_modulus
# |x| of the curve parameter x = -0xd201000000010000.
X_ABS = 0xD201000000010000
G1_DST = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"

G1Point = tuple  # projective (x, y, z) over FQ
G2Point = tuple  # projective (x, y, z) over FQ2
T = TypeVar("T")


class PointError(ValueError):
    """Bytes that are not a valid compressed point of the expected group."""


def g1_to_bytes(point: G1Point) -> bytes:
    return compress_G1(point).to_bytes(48, "big")


def g2_to_bytes(point: G2Point) -> bytes:
    z1, z2 = compress_G2(point)
    return z1.to_bytes(48, "big") + z2.to_bytes(48, "big")


def g1_from_bytes(data: bytes, *, subgroup: bool = True) -> G1Point:
    if len(data) != 48:
        raise PointError(f"a G1 point is 48 bytes, got {len(data)}")
    try:
        point = decompress_G1(int.from_bytes(data, "big"))
    except (ValueError, TypeError) as exc:
        raise PointError(f"not a compressed G1 point: {exc}") from None
    if not is_on_curve(point, b) or (subgroup and not is_inf(multiply(point, Q))):
        raise PointError("G1 point is not in the prime-order subgroup")
    return point


def g2_from_bytes(data: bytes, *, subgroup: bool = True) -> G2Point:
    if len(data) != 96:
        raise PointError(f"a G2 point is 96 bytes, got {len(data)}")
    try:
        point = decompress_G2((int.from_bytes(data[:48], "big"), int.from_bytes(data[48:], "big")))
    except (ValueError, TypeError) as exc:
        raise PointError(f"not a compressed G2 point: {exc}") from None
    # py_ecc checks curve membership but not the subgroup; a small-order key would leak plaintexts.
    if not is_on_curve(point, b2) or (subgroup and not is_inf(multiply(point, Q))):
        raise PointError("G2 point is not in the prime-order subgroup")
    return point


@lru_cache(maxsize=64)
def checked_g2(data: bytes) -> G2Point:
    """Decode and subgroup-check a public key once per process (the check costs ~30 ms)."""
    return g2_from_bytes(bytes(data))


def hash_to_g1(message: bytes) -> G1Point:
    """RFC 9380 hash-to-curve with drand's DST and no context prefix."""
    return hash_to_G1(message, G1_DST, hashlib.sha256)


def secret_to_public(secret: int) -> bytes:
    return g2_to_bytes(multiply(G2, secret))


def sign(secret: int, message: bytes) -> bytes:
    """Unchained G1 signature: secret · H(message)."""
    return g1_to_bytes(multiply(hash_to_g1(message), secret))


# --- GT (Fq12) -------------------------------------------------------------------------------


def _conj(f: FQ12) -> FQ12:
    """f^(p^6): negating the odd-power coefficients (w^(p^6) = -w); the inverse in the cyclotomic group."""
    return FQ12([c if i % 2 == 0 else -c for i, c in enumerate(f.coeffs)])


def _pow_x(f: FQ12) -> FQ12:
    """f^x for x < 0 and f in the cyclotomic subgroup: conj(f^|x|)."""
    return _conj(f**X_ABS)


def _final_exponent_ark(f: FQ12) -> FQ12:
    """f^(3(p^12-1)/q), split into the easy part and an x-chain for the hard part."""
    t = _conj(f) / f
    f1 = exp_by_p(exp_by_p(t)) * t  # f^((p^6-1)(p^2+1))
    a = _pow_x(f1) * _conj(f1)  # f1^(x-1)
    a = _pow_x(a) * _conj(a)  # f1^((x-1)^2)
    c = _pow_x(a) * exp_by_p(a)  # ·^(x+p)
    c = _pow_x(_pow_x(c)) * exp_by_p(exp_by_p(c)) * _conj(c)  # ·^(x^2+p^2-1)
    return c * f1 * f1 * f1  # + 3


def pairing_ark(g1_point: G1Point, g2_point: G2Point) -> FQ12:
    """e(A, B) as arkworks 0.4 computes it: py_ecc's e(B, A)^(-3) (timelock_ibe.md §5.3)."""
    return _conj(_final_exponent_ark(miller_loop(g2_point, g1_point, final_exponentiate=False)))


def gt_to_bytes(f: FQ12) -> bytes:
    """arkworks' 576-byte serialisation: tower slots w^0, w^2, w^4, w^1, w^3, w^5, each (a, b) LE."""
    c = [int(x) for x in f.coeffs]
    out = bytearray()
    for k in (0, 2, 4, 1, 3, 5):
        out += ((c[k] + c[k + 6]) % P).to_bytes(48, "little")
        out += c[k + 6].to_bytes(48, "little")
    return bytes(out)


# --- fixed-base exponentiation ----------------------------------------------------------------


class FixedBase(Generic[T]):
    """Powers of one base in 4-bit windows: 64 rows × 16 entries cover every exponent below 2^256.

    An exponentiation then costs at most 64 group operations and no doublings, which is what makes
    a timelock encryption ~10 ms once the per-(key, round) table exists.
    """

    ROWS = 64

    def __init__(self, base: T, op: Callable[[T, T], T], identity: T) -> None:
        self._op = op
        self._identity = identity
        self.rows: list[list[T]] = []
        for _ in range(self.ROWS):
            row = [identity, base]
            for _ in range(14):
                row.append(op(row[-1], base))
            self.rows.append(row)
            base = op(row[-1], base)

    def power(self, exponent: int) -> T:
        if not 0 <= exponent < 1 << (4 * self.ROWS):
            raise ValueError("exponent out of the table's range")
        acc = self._identity
        for row in self.rows:
            digit = exponent & 15
            if digit:
                acc = self._op(acc, row[digit])
            exponent >>= 4
        return acc


def gt_table(base: FQ12) -> FixedBase[FQ12]:
    return FixedBase(base, lambda x, y: x * y, FQ12.one())


# --- r·P2 on raw integers ------------------------------------------------------------------------
# Fq2 elements as (re, im) int pairs. The generator table holds affine points and the accumulator is
# Jacobian, so each step is one mixed addition without py_ecc's per-operation objects (~5x faster).

Fq2 = tuple[int, int]


def _f2mul(a: Fq2, b: Fq2) -> Fq2:
    t0, t1 = a[0] * b[0], a[1] * b[1]
    return (t0 - t1) % P, ((a[0] + a[1]) * (b[0] + b[1]) - t0 - t1) % P


def _f2sqr(a: Fq2) -> Fq2:
    return (a[0] + a[1]) * (a[0] - a[1]) % P, 2 * a[0] * a[1] % P


def _f2sub(a: Fq2, b: Fq2) -> Fq2:
    return (a[0] - b[0]) % P, (a[1] - b[1]) % P


def _f2scale(a: Fq2, k: int) -> Fq2:
    return a[0] * k % P, a[1] * k % P


def _f2inv(a: Fq2) -> Fq2:
    n = pow(a[0] * a[0] + a[1] * a[1], -1, P)
    return a[0] * n % P, -a[1] * n % P


def _mixed_add(acc: tuple, x2: Fq2, y2: Fq2) -> tuple:
    """Jacobian acc + affine (x2, y2), madd-2007-bl for a = 0."""
    x1, y1, z1 = acc
    z1z1 = _f2sqr(z1)
    h = _f2sub(_f2mul(x2, z1z1), x1)
    rr = _f2scale(_f2sub(_f2mul(y2, _f2mul(z1, z1z1)), y1), 2)
    if h == (0, 0):
        # Unreachable for exponents in [1, q): each partial sum is below the next window's term.
        raise ArithmeticError("doubling or infinity in a fixed-base sum")
    hh = _f2sqr(h)
    i = _f2scale(hh, 4)
    j = _f2mul(h, i)
    v = _f2mul(x1, i)
    x3 = _f2sub(_f2sub(_f2sqr(rr), j), _f2scale(v, 2))
    y3 = _f2sub(_f2mul(rr, _f2sub(v, x3)), _f2scale(_f2mul(y1, j), 2))
    z3 = _f2sub(_f2sub(_f2sqr((z1[0] + h[0], z1[1] + h[1])), z1z1), hh)
    return x3, y3, z3


class G2GeneratorTable:
    """k·P2 as compressed bytes, from affine window tables of the generator."""

    def __init__(self) -> None:
        def affine(pt: G2Point) -> tuple[Fq2, Fq2]:
            zi = _f2inv(tuple(int(c) for c in pt[2].coeffs))
            return (_f2mul(tuple(int(c) for c in pt[0].coeffs), zi),
                    _f2mul(tuple(int(c) for c in pt[1].coeffs), zi))

        rows = FixedBase(G2, add, Z2).rows
        self._rows = [[None] + [affine(pt) for pt in row[1:]] for row in rows]

    def multiply(self, k: int) -> bytes:
        if not 1 <= k < Q:
            raise ValueError("scalar must lie in [1, q)")
        acc = None
        for row in self._rows:
            digit = k & 15
            if digit:
                x, y = row[digit]
                acc = (x, y, (1, 0)) if acc is None else _mixed_add(acc, x, y)
            k >>= 4
        x, y, z = acc
        zi = _f2inv(z)
        zi2 = _f2sqr(zi)
        x, y = _f2mul(x, zi2), _f2mul(y, _f2mul(zi2, zi))
        # ZCash flags: compressed, and "y is the larger root" judged on y.im, or y.re when y.im = 0.
        larger = (y[1] if y[1] else y[0]) > (P - 1) // 2
        z1 = x[1] | (1 << 383) | (larger << 381)
        return z1.to_bytes(48, "big") + x[0].to_bytes(48, "big")


@lru_cache(maxsize=1)
def g2_generator_table() -> G2GeneratorTable:
    """r·P2 for every timelock ciphertext; built once per process (~0.1 s)."""
    return G2GeneratorTable()
