"""BLS12-381 pieces that timelock encryption and the local beacon need, on top of py_ecc.

Points use the ZCash compressed encoding that drand and arkworks write. GT elements are serialised
in arkworks' tower order, and pairings are normalised to the value arkworks computes, so hashes of
GT elements agree byte for byte with the Rust `tle` crate that bittensor_core decrypts with.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Callable, Generic, TypeVar

from gmpy2 import mpz
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
from py_ecc.optimized_bls12_381 import double, normalize, twist
from py_ecc.optimized_bls12_381.optimized_pairing import exp_by_p, miller_loop, pseudo_binary_encoding

Q = curve_order
P = field_modulus
PZ = mpz(P)  # the hot loops' modulus: GMP arithmetic on 381-bit integers is ~2x CPython's
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
    acc, base, e = GT_ONE, gt_from_fq12(f), X_ABS
    while e:
        if e & 1:
            acc = gt_mul(acc, base)
        base, e = gt_mul(base, base), e >> 1
    return _conj(gt_to_fq12(acc))


def _final_exponent_ark(f: FQ12) -> FQ12:
    """f^(3(p^12-1)/q), split into the easy part and an x-chain for the hard part."""
    t = _conj(f) * gt_to_fq12(gt_inv(gt_from_fq12(f)))
    f1 = exp_by_p(exp_by_p(t)) * t  # f^((p^6-1)(p^2+1))
    a = _pow_x(f1) * _conj(f1)  # f1^(x-1)
    a = _pow_x(a) * _conj(a)  # f1^((x-1)^2)
    c = _pow_x(a) * exp_by_p(a)  # ·^(x+p)
    c = _pow_x(_pow_x(c)) * exp_by_p(exp_by_p(c)) * _conj(c)  # ·^(x^2+p^2-1)
    return c * f1 * f1 * f1  # + 3


def pairing_ark(g1_point: G1Point, g2_point: G2Point) -> FQ12:
    """e(A, B) as arkworks 0.4 computes it: py_ecc's e(B, A)^(-3) (timelock_ibe.md §5.3)."""
    return _conj(_final_exponent_ark(miller_loop(g2_point, g1_point, final_exponentiate=False)))


# --- Fq2 as (re, im) pairs of GMP integers ------------------------------------------------------

Fq2 = tuple[int, int]


def _f2mul(a: Fq2, b: Fq2) -> Fq2:
    t0, t1 = a[0] * b[0], a[1] * b[1]
    return (t0 - t1) % PZ, ((a[0] + a[1]) * (b[0] + b[1]) - t0 - t1) % PZ


def _f2sqr(a: Fq2) -> Fq2:
    return (a[0] + a[1]) * (a[0] - a[1]) % PZ, 2 * a[0] * a[1] % PZ


def _f2inv(a: Fq2) -> Fq2:
    n = pow(a[0] * a[0] + a[1] * a[1], -1, PZ)
    return a[0] * n % PZ, -a[1] * n % PZ


# --- GT in arkworks' tower, on raw integers --------------------------------------------------
# Fq12 = Fq6[w]/(w² − v), Fq6 = Fq2[v]/(v³ − ξ), ξ = 1 + u, Fq2 = Fq[u]/(u² + 1). An element is 12
# integers: the (re, im) pairs of the slots 1, v, v², w, vw, v²w, the order arkworks serialises.
# py_ecc's FQ12 is a polynomial in w with w⁶ = ξ, so slot w^k holds (c[k] + c[k+6], c[k+6]).
# Karatsuba at both levels makes a product 54 integer multiplications, ~8x faster than FQ12's.

Gt = tuple
_SLOTS = (0, 2, 4, 1, 3, 5)
GT_ONE: Gt = (mpz(1),) + (mpz(0),) * 11


def gt_from_fq12(f: FQ12) -> Gt:
    c = [int(x) for x in f.coeffs]
    return tuple(mpz(v) for k in _SLOTS for v in ((c[k] + c[k + 6]) % P, c[k + 6]))


def gt_to_fq12(x: Gt) -> FQ12:
    c = [0] * 12
    for j, k in enumerate(_SLOTS):
        c[k], c[k + 6] = int(x[2 * j] - x[2 * j + 1]) % P, int(x[2 * j + 1])
    return FQ12(c)


def _fq6_mul(a0r, a0i, a1r, a1i, a2r, a2i, b0r, b0i, b1r, b1i, b2r, b2i) -> tuple:
    """(a0 + a1 v + a2 v²)(b0 + b1 v + b2 v²), unreduced: 6 Fq2 products of 3 multiplications."""
    t0, t1 = a0r * b0r, a0i * b0i
    v0r, v0i = t0 - t1, (a0r + a0i) * (b0r + b0i) - t0 - t1
    t0, t1 = a1r * b1r, a1i * b1i
    v1r, v1i = t0 - t1, (a1r + a1i) * (b1r + b1i) - t0 - t1
    t0, t1 = a2r * b2r, a2i * b2i
    v2r, v2i = t0 - t1, (a2r + a2i) * (b2r + b2i) - t0 - t1
    sr, si, ur, ui = a1r + a2r, a1i + a2i, b1r + b2r, b1i + b2i
    t0, t1 = sr * ur, si * ui
    xr, xi = t0 - t1 - v1r - v2r, (sr + si) * (ur + ui) - t0 - t1 - v1i - v2i  # (a1b2 + a2b1)
    sr, si, ur, ui = a0r + a1r, a0i + a1i, b0r + b1r, b0i + b1i
    t0, t1 = sr * ur, si * ui
    yr, yi = t0 - t1 - v0r - v1r, (sr + si) * (ur + ui) - t0 - t1 - v0i - v1i  # (a0b1 + a1b0)
    sr, si, ur, ui = a0r + a2r, a0i + a2i, b0r + b2r, b0i + b2i
    t0, t1 = sr * ur, si * ui
    return (v0r + xr - xi, v0i + xr + xi, yr + v2r - v2i, yi + v2r + v2i,  # ξ·(re, im) = (re − im, re + im)
            t0 - t1 - v0r - v2r + v1r, (sr + si) * (ur + ui) - t0 - t1 - v0i - v2i + v1i)


def gt_mul(x: Gt, y: Gt) -> Gt:
    """(a + b w)(c + d w) = (ac + v·bd) + ((a + b)(c + d) − ac − bd) w, reduced once at the end."""
    a0r, a0i, a1r, a1i, a2r, a2i, b0r, b0i, b1r, b1i, b2r, b2i = x
    c0r, c0i, c1r, c1i, c2r, c2i, d0r, d0i, d1r, d1i, d2r, d2i = y
    e0, e1, e2, e3, e4, e5 = _fq6_mul(a0r, a0i, a1r, a1i, a2r, a2i, c0r, c0i, c1r, c1i, c2r, c2i)
    f0, f1, f2, f3, f4, f5 = _fq6_mul(b0r, b0i, b1r, b1i, b2r, b2i, d0r, d0i, d1r, d1i, d2r, d2i)
    s0, s1, s2, s3, s4, s5 = _fq6_mul(a0r + b0r, a0i + b0i, a1r + b1r, a1i + b1i, a2r + b2r, a2i + b2i,
                                      c0r + d0r, c0i + d0i, c1r + d1r, c1i + d1i, c2r + d2r, c2i + d2i)
    return ((e0 + f4 - f5) % PZ, (e1 + f4 + f5) % PZ, (e2 + f0) % PZ, (e3 + f1) % PZ, (e4 + f2) % PZ,
            (e5 + f3) % PZ, (s0 - e0 - f0) % PZ, (s1 - e1 - f1) % PZ, (s2 - e2 - f2) % PZ,
            (s3 - e3 - f3) % PZ, (s4 - e4 - f4) % PZ, (s5 - e5 - f5) % PZ)


def _xi(a: Fq2) -> Fq2:
    return (a[0] - a[1]) % PZ, (a[0] + a[1]) % PZ


def gt_inv(x: Gt) -> Gt:
    """(a + b w)⁻¹ = (a − b w)/(a² − v b²); the Fq6 inverse by its adjugate over one Fq2 inverse."""
    a, b_ = x[:6], x[6:]
    aa, bb = _fq6_mul(*a, *a), _fq6_mul(*b_, *b_)
    d = [(p - q) % PZ for p, q in zip(aa, (bb[4] - bb[5], bb[4] + bb[5], bb[0], bb[1], bb[2], bb[3]))]
    c0, c1, c2 = (d[0], d[1]), (d[2], d[3]), (d[4], d[5])
    t0 = [(p - q) % PZ for p, q in zip(_f2mul(c0, c0), _xi(_f2mul(c1, c2)))]
    t1 = [(p - q) % PZ for p, q in zip(_xi(_f2mul(c2, c2)), _f2mul(c0, c1))]
    t2 = [(p - q) % PZ for p, q in zip(_f2mul(c1, c1), _f2mul(c0, c2))]
    n = [p + q for p, q in zip(_f2mul(c0, t0), _xi([p + q for p, q in zip(_f2mul(c2, t1), _f2mul(c1, t2))]))]
    ni = _f2inv((n[0] % PZ, n[1] % PZ))
    di = (*_f2mul(t0, ni), *_f2mul(t1, ni), *_f2mul(t2, ni))
    return tuple(v % PZ for v in _fq6_mul(*a, *di)) + tuple(-v % PZ for v in _fq6_mul(*b_, *di))


def gt_bytes(x: Gt) -> bytes:
    """arkworks' 576-byte serialisation: each slot's (re, im), little-endian."""
    return b"".join(int(v).to_bytes(48, "little") for v in x)


def gt_to_bytes(f: FQ12) -> bytes:
    return gt_bytes(gt_from_fq12(f))


class KeyedPairing:
    """`pairing_ark(·, key)` for one G2 key, with the key's side of the Miller loop done once.

    py_ecc's line through twisted points R1, R2, evaluated at a G1 point (x, y, 1), is
    x·A + y·B + C over a denominator D, where A, B, C and D depend on the key alone: the loop keeps
    those and the product of the denominators (inverted once), leaving per G1 point ~130 tower
    products, ~25x faster than `miller_loop`. The result is the same element: a projective G1
    point scales each line's numerator and denominator alike.
    """

    def __init__(self, key: G2Point) -> None:
        self.key = key
        self._lines: list[tuple[bool, Gt, Gt, Gt]] = []  # (square f first, A, B, C)
        denominator = FQ12.one()
        twist_q = twist_r = twist(key)
        r = key
        for bit in pseudo_binary_encoding[62::-1]:
            a, b_, c, d = self._line(twist_r, twist_r)
            self._lines.append((True, a, b_, c))
            denominator = denominator * denominator * d
            r = double(r)
            twist_r = twist(r)
            if bit:
                a, b_, c, d = self._line(twist_r, twist_q)
                self._lines.append((False, a, b_, c))
                denominator = denominator * d
                r = add(r, key)
                twist_r = twist(r)
        self._inverse_denominator = gt_from_fq12(FQ12.one() / denominator)

    @staticmethod
    def _line(p1: tuple, p2: tuple) -> tuple[Gt, Gt, Gt, FQ12]:
        """(A, B, C, D) of py_ecc's `linefunc(p1, p2, ·)`, in its three cases."""
        x1, y1, z1 = p1
        x2, y2, z2 = p2
        zero = x1.zero()
        m_num, m_den = y2 * z1 - y1 * z2, x2 * z1 - x1 * z2
        if m_den == zero and m_num == zero:  # the tangent
            m_num, m_den = 3 * x1 * x1, 2 * y1 * z1
        elif m_den == zero:  # a vertical line: x·z1 − x1, over z1
            return gt_from_fq12(z1), gt_from_fq12(zero), gt_from_fq12(-x1), z1
        return gt_from_fq12(m_num * z1), gt_from_fq12(-(m_den * z1)), gt_from_fq12(m_den * y1 - m_num * x1), m_den * z1

    def __call__(self, point: G1Point) -> FQ12:
        x, y = (mpz(int(c)) for c in normalize(point))
        f = GT_ONE
        for square, a, b_, c in self._lines:
            if square:
                f = gt_mul(f, f)
            f = gt_mul(f, tuple((x * ai + y * bi + ci) % PZ for ai, bi, ci in zip(a, b_, c)))
        return _conj(_final_exponent_ark(gt_to_fq12(gt_mul(f, self._inverse_denominator))))


# --- fixed-base exponentiation ----------------------------------------------------------------


class FixedBase(Generic[T]):
    """Powers of one base in 4-bit windows: 64 rows × 16 entries cover every exponent below 2^256.

    An exponentiation then costs at most 64 group operations and no doublings, which is what makes
    a timelock encryption ~3 ms once the per-(key, round) table exists (~30 ms to build).
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


def gt_table(base: FQ12) -> FixedBase[Gt]:
    """Powers of a GT element, in the tower form (`gt_bytes` serialises them)."""
    return FixedBase(gt_from_fq12(base), gt_mul, GT_ONE)


# --- r·P2 on raw integers ------------------------------------------------------------------------
# The generator table holds affine points and the accumulator is Jacobian, so each step is one
# mixed addition without py_ecc's per-operation objects (~20x faster).


def _mixed_add(acc: tuple, x2: Fq2, y2: Fq2) -> tuple:
    """Jacobian acc + affine (x2, y2), madd-2007-bl for a = 0, with the Fq2 products written out."""
    (x1r, x1i), (y1r, y1i), (z1r, z1i) = acc
    x2r, x2i = x2
    y2r, y2i = y2
    zzr, zzi = (z1r + z1i) * (z1r - z1i) % PZ, 2 * z1r * z1i % PZ  # z1z1 = z1²
    t0, t1 = x2r * zzr, x2i * zzi  # h = x2·z1z1 − x1
    hr, hi = (t0 - t1 - x1r) % PZ, ((x2r + x2i) * (zzr + zzi) - t0 - t1 - x1i) % PZ
    if not (hr or hi):
        # Unreachable for exponents in [1, q): each partial sum is below the next window's term.
        raise ArithmeticError("doubling or infinity in a fixed-base sum")
    t0, t1 = z1r * zzr, z1i * zzi  # z1³
    wr, wi = (t0 - t1) % PZ, ((z1r + z1i) * (zzr + zzi) - t0 - t1) % PZ
    t0, t1 = y2r * wr, y2i * wi  # rr = 2(y2·z1³ − y1)
    rr, ri = 2 * (t0 - t1 - y1r) % PZ, 2 * ((y2r + y2i) * (wr + wi) - t0 - t1 - y1i) % PZ
    hhr, hhi = (hr + hi) * (hr - hi) % PZ, 2 * hr * hi % PZ  # hh = h², i = 4·hh
    ir, ii = 4 * hhr, 4 * hhi
    t0, t1 = hr * ir, hi * ii  # j = h·i
    jr, ji = (t0 - t1) % PZ, ((hr + hi) * (ir + ii) - t0 - t1) % PZ
    t0, t1 = x1r * ir, x1i * ii  # v = x1·i
    vr, vi = (t0 - t1) % PZ, ((x1r + x1i) * (ir + ii) - t0 - t1) % PZ
    x3r, x3i = ((rr + ri) * (rr - ri) - jr - 2 * vr) % PZ, (2 * rr * ri - ji - 2 * vi) % PZ  # rr² − j − 2v
    ar, ai = vr - x3r, vi - x3i  # y3 = rr·(v − x3) − 2·y1·j
    t0, t1, t2, t3 = rr * ar, ri * ai, y1r * jr, y1i * ji
    y3r = (t0 - t1 - 2 * (t2 - t3)) % PZ
    y3i = ((rr + ri) * (ar + ai) - t0 - t1 - 2 * ((y1r + y1i) * (jr + ji) - t2 - t3)) % PZ
    sr, si = z1r + hr, z1i + hi  # z3 = (z1 + h)² − z1z1 − hh
    z3r, z3i = ((sr + si) * (sr - si) - zzr - hhr) % PZ, (2 * sr * si - zzi - hhi) % PZ
    return (x3r, x3i), (y3r, y3i), (z3r, z3i)


class G2GeneratorTable:
    """k·P2 as compressed bytes, from affine window tables of the generator."""

    def __init__(self) -> None:
        def affine(pt: G2Point) -> tuple[Fq2, Fq2]:
            zi = _f2inv(tuple(mpz(int(c)) for c in pt[2].coeffs))
            return (_f2mul(tuple(mpz(int(c)) for c in pt[0].coeffs), zi),
                    _f2mul(tuple(mpz(int(c)) for c in pt[1].coeffs), zi))

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
        z1 = int(x[1]) | (1 << 383) | (larger << 381)
        return z1.to_bytes(48, "big") + int(x[0]).to_bytes(48, "big")


@lru_cache(maxsize=1)
def g2_generator_table() -> G2GeneratorTable:
    """r·P2 for every timelock ciphertext; built once per process (~0.1 s)."""
    return G2GeneratorTable()
