// AMX kernels (AMX-TILE, AMX-BF16); only this file is built with -mamx-tile -mamx-bf16. The level is
// avx512_bf16's table with the bfloat16 GEMM on tile registers: one TDPBF16PS multiplies a 16x32
// bfloat16 tile of A by a 32x16 tile of B (pairs of k rows interleaved) into a 16x16 float32 tile,
// 8192 multiply-adds, where VDPBF16PS does 32 (on the Xeons with AMX it also issues on one port
// only, so it is no faster than avx512's float32 FMAs: the tiles are what make bfloat16 pay).
//   Like avx512_bf16.cc, this file includes neither simd.hpp nor kernels-inl.hpp (their inline
// functions would be compiled here with other flags as well as in avx512.cc).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "bf16_round_avx512.hpp"
#include "kernels.hpp"

namespace sepcpp {
namespace kernels {
namespace {

// A panel is 32 columns (two B tiles); k is taken 32 rows (one A tile's width) at a time, so the
// packed panel holds k rounded up to 32, zero-padded (gemm_panel_size with kstep 32): first the
// bias as 32 floats (in the 32 x 32 bfloat16 slots of the "bias rows"), then per pair of k rows p,
// column j's two values at [2j] (row 2p) and [2j + 1] (row 2p + 1). A B tile (16 pairs x 16
// columns, 64 bytes a row) is then read straight from the panel with a row stride of 128 bytes.
constexpr size_t kTile = 16;              // rows of a tile; float32 columns of a C tile
constexpr size_t kKstep = 32;             // bfloat16 columns of an A tile: k per step
constexpr size_t kNr = 2 * kTile;         // columns per panel
constexpr size_t kMr = 2 * kTile;         // rows per block (two A tiles)
constexpr size_t kPairRow = 2 * kNr;      // bfloat16 elements per packed pair row

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Tiles 0-3: C (rows x cols blocks 00, 01, 10, 11), 4-5: A (row blocks 0, 1), 6-7: B (column
// blocks 0, 1); all 16 rows of 64 bytes.
void configure_tiles() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) cfg.rows[t] = kTile, cfg.colsb[t] = 64;
  // Not _tile_loadconfig: GCC 12's declares a read of 8 bytes only, so the stores of the rows and
  // column widths above may be dropped or moved past it (seen: every tile left unconfigured, and
  // the first tile load faulting with SIGILL).
  __asm__ volatile("ldtilecfg %0" : : "m"(cfg));
}

void gemm_pack_amx(size_t k, size_t cols, const bfloat16* b, size_t b_row_stride, const bfloat16* bias,
                   bfloat16* packed) {
  const size_t kp = (k + kKstep - 1) / kKstep * kKstep;
  for (size_t j0 = 0; j0 < cols; j0 += kNr) {
    const size_t nc = std::min(kNr, cols - j0);
    bfloat16* panel = packed + (j0 / kNr) * gemm_panel_size(k, kNr, kKstep);
    std::fill(panel, panel + kKstep * kNr, bfloat16());
    float bias_f[kNr];
    for (size_t j = 0; j < kNr; ++j) bias_f[j] = (bias && j < nc) ? static_cast<float>(bias[j0 + j]) : 0.0f;
    std::memcpy(panel, bias_f, sizeof bias_f);
    for (size_t p = 0; p < kp / 2; ++p) {
      bfloat16* row = panel + kKstep * kNr + p * kPairRow;
      for (size_t j = 0; j < kNr; ++j)
        for (size_t h = 0; h < 2; ++h) {
          const size_t kk = 2 * p + h;
          row[2 * j + h] = (j < nc && kk < k) ? b[kk * b_row_stride + j0 + j] : bfloat16();
        }
    }
  }
}

using bf16_avx512::round_exact;

// Clamps and rounds a row of 32 sums. VCVTNE2PS2BF16 (one instruction for 32 values against
// round_exact's dozen for 16; the rounding runs on the vector ports next to the tiles) rounds to
// nearest even as round_exact does for every float but denormals, which it flushes to zero, and
// NaNs, whose payload it keeps; a row holding either takes round_exact (bf16_round_avx512.hpp).
struct Rounder {
  __m512 lo, hi;
  bool clamp;
  explicit Rounder(const Activation<bfloat16>& act)
      : lo(_mm512_set1_ps(static_cast<float>(act.lo))),
        hi(_mm512_set1_ps(static_cast<float>(act.hi))),
        clamp(act.clamp) {}
  __m512i operator()(__m512 v0, __m512 v1) const {
    if (clamp) {  // NaN passes
      v0 = _mm512_min_ps(hi, _mm512_max_ps(lo, v0));
      v1 = _mm512_min_ps(hi, _mm512_max_ps(lo, v1));
    }
    const __mmask16 odd0 = bf16_avx512::inexact_lanes(v0), odd1 = bf16_avx512::inexact_lanes(v1);
    if (__builtin_expect(_kortestz_mask16_u8(odd0, odd1) == 0, 0))
      return _mm512_inserti64x4(_mm512_castsi256_si512(round_exact(v0)), round_exact(v1), 1);
    return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(v1, v0));  // v0 in the low half
  }
};

// The partial sums of one block (32 x 32 floats, row-major) between k-blocks; a C tile (tr, tc) of
// it starts at tr * 16 * 32 + tc * 16 with a row stride of 128 bytes.
constexpr long kPartStride = kNr * sizeof(float);
// A in the per-thread buffer: per block of 32 rows, per k step, the block's two A tiles one after
// the other (32 rows of 32 values, 64 bytes a row: 2 KiB), so that a tile is 1 KiB in a row.
constexpr size_t kAStep = kMr * kKstep;
constexpr long kARowBytes = kKstep * sizeof(bfloat16);

// k per k-block: all of k up to 2048 (a block's four C tiles stay in the tile registers from the
// bias to the rounding), beyond that k-blocks with the partial sums stored between them (for a
// panel and a row block of 128 KiB each when k is 2048: twice L1, a fraction of L2).
constexpr size_t kKc = 2048;
// No software prefetch: the operands of a long block stream from L2 (a panel of 1024 x 32 and a
// row block of 32 x 1024 are 64 KiB each), but prefetching them two steps ahead, which paid
// 1.1-1.17x at k = 1024 when C was rounded after each block, cost 7-10% at k = 1024 and 2048 next
// to the rounding and the copy of A that now run during the steps.

// A finished block's sums (its C tiles stored as 32 rows x 32 floats, like `part`) waiting to be
// clamped and rounded into C; the vector units do that while the tile unit runs the next block's
// steps. (Rounded after each block, 16 values per store, C took about 60% of the time with
// k = 128 and 20% with k = 1024; the 64-byte rows and the overlap gained 1.1-1.3x.)
struct Pending {
  alignas(64) float acc[kMr * kNr];
  size_t mr = 0, nc = 0, done = 0;  // rows of C, columns, rows rounded so far
  bfloat16* c = nullptr;
  size_t c_row_stride = 0;
};

// Rows [p.done, min(upto, p.mr)) of a pending block into C, a row's 32 values in one 64-byte store
// (a store that misses L1 costs the same for 32 or 64 bytes, and C's lines miss: 1.5x faster than
// a store per tile row).
inline void round_rows(Pending& p, size_t upto, const Rounder& rnd) {
  const size_t end = std::min(upto, p.mr), nc = p.nc, stride = p.c_row_stride;
  const __mmask32 cols = nc >= kNr ? ~__mmask32(0) : static_cast<__mmask32>((1u << nc) - 1u);
  const float* row = p.acc + p.done * kNr;
  bfloat16* c = p.c + p.done * stride;
  for (size_t r = p.done; r < end; ++r, row += kNr, c += stride) {
    // Without a second C tile the right half is zero (its sums were not stored).
    const __m512 v1 = nc > kTile ? _mm512_load_ps(row + kTile) : _mm512_setzero_ps();
    _mm512_mask_storeu_epi16(c, cols, rnd(_mm512_load_ps(row), v1));
  }
  p.done = std::max(p.done, end);
}

// A block of 32 rows of A to copy into the buffer's layout (zero past k and past its n rows), a
// step (32 rows x 32 values, 2 KiB) at a time: on the first panel, the next block's steps are
// copied during this block's (the loads and stores run next to the tile unit; copied up front they
// cost 10-15% at k = 128 and 1024).
struct CopyJob {
  const bfloat16* src = nullptr;  // the block's first row of A
  size_t src_stride = 0, n = 0, k = 0;
  bfloat16* dst = nullptr;        // the block's first step in the buffer
  size_t next = 0, steps = 0;     // steps copied, steps in all
};

// Steps [job.next, upto) of a block; 64-byte moves, masked at the end of k (rows of A are short:
// 32 values for a 32-channel layer, where memcpy's `rep movs` costs more than the tiles).
inline void copy_steps(CopyJob& job, size_t upto) {
  // (The fields in locals: the compiler reloaded them after every store, which might alias them.)
  const bfloat16* const src = job.src;
  bfloat16* const dst = job.dst;
  const size_t stride = job.src_stride, n = job.n, k = job.k;
  size_t next = job.next;
  for (upto = std::min(upto, job.steps); next < upto; ++next) {
    const size_t j = next * kKstep, valid = std::min(kKstep, k - j);
    const bfloat16* s = src + j;
    bfloat16* d = dst + next * kAStep;
    size_t r = 0;
    if (valid == kKstep)
      for (; r < n; ++r, s += stride, d += kKstep) _mm512_store_si512(d, _mm512_loadu_si512(s));
    else
      for (const __mmask32 mask = static_cast<__mmask32>((1u << valid) - 1u); r < n; ++r, s += stride, d += kKstep)
        _mm512_store_si512(d, _mm512_maskz_loadu_epi16(mask, s));
    for (; r < kMr; ++r, d += kKstep) _mm512_store_si512(d, _mm512_setzero_si512());
  }
  job.next = next;
}

// One block of up to 32 rows x one panel of up to 32 columns over `steps` k steps. `a` points at
// the block's first step in the buffer, `bp` at the panel's pair row of that step. The first
// k-block starts from the bias (row stride 0: the same 16 floats in every row, so that per element
// the sum is bias + products, as on the other levels), later ones from the partial sums in `part`;
// the last stores its sums into `pend` (rounded during the next block), the others store the
// partial sums (float32: exactly). The tile numbers are immediates, hence the four shapes as
// template arguments.
template <bool kTwoRows, bool kTwoCols>
void block_amx(size_t mr, size_t nc, size_t steps, const bfloat16* a, const bfloat16* bp, const float* bias,
               float* part, bool first, bool last, bfloat16* c, size_t c_row_stride, Pending& pend,
               CopyJob& job, const Rounder& act) {
  if (first) {
    _tile_loadd(0, bias, 0);
    if (kTwoCols) _tile_loadd(1, bias + kTile, 0);
    if (kTwoRows) _tile_loadd(2, bias, 0);
    if (kTwoRows && kTwoCols) _tile_loadd(3, bias + kTile, 0);
  } else {
    _tile_loadd(0, part, kPartStride);
    if (kTwoCols) _tile_loadd(1, part + kTile, kPartStride);
    if (kTwoRows) _tile_loadd(2, part + kTile * kNr, kPartStride);
    if (kTwoRows && kTwoCols) _tile_loadd(3, part + kTile * kNr + kTile, kPartStride);
  }
  // The pending block's rows, spread over this block's steps.
  const size_t per_step = steps ? (pend.mr - pend.done + steps - 1) / steps : 0;
  constexpr long b_bytes = kPairRow * sizeof(bfloat16);
  for (size_t s = 0; s < steps; ++s, a += kAStep, bp += (kKstep / 2) * kPairRow) {
    _tile_loadd(4, a, kARowBytes);
    if (kTwoRows) _tile_loadd(5, a + kTile * kKstep, kARowBytes);
    _tile_loadd(6, bp, b_bytes);
    if (kTwoCols) _tile_loadd(7, bp + 2 * kTile, b_bytes);
    _tile_dpbf16ps(0, 4, 6);
    if (kTwoCols) _tile_dpbf16ps(1, 4, 7);
    if (kTwoRows) _tile_dpbf16ps(2, 5, 6);
    if (kTwoRows && kTwoCols) _tile_dpbf16ps(3, 5, 7);
    if (pend.done < pend.mr) round_rows(pend, pend.done + per_step, act);
    if (job.next < job.steps) copy_steps(job, job.next + 1);
  }
  if (!last) {
    _tile_stored(0, part, kPartStride);
    if (kTwoCols) _tile_stored(1, part + kTile, kPartStride);
    if (kTwoRows) _tile_stored(2, part + kTile * kNr, kPartStride);
    if (kTwoRows && kTwoCols) _tile_stored(3, part + kTile * kNr + kTile, kPartStride);
    return;
  }
  if (pend.done < pend.mr) round_rows(pend, kMr, act);  // k = 0: a block without steps
  _tile_stored(0, pend.acc, kPartStride);
  if (kTwoCols) _tile_stored(1, pend.acc + kTile, kPartStride);
  if (kTwoRows) _tile_stored(2, pend.acc + kTile * kNr, kPartStride);
  if (kTwoRows && kTwoCols) _tile_stored(3, pend.acc + kTile * kNr + kTile, kPartStride);
  pend.mr = mr, pend.nc = nc, pend.done = 0, pend.c = c, pend.c_row_stride = c_row_stride;
}

void gemm_amx(size_t rows, size_t cols, size_t k, const bfloat16* a, size_t a_row_stride, const bfloat16* packed_b,
              bfloat16* c, size_t c_row_stride, const Activation<bfloat16>& act) {
  const size_t kp = (k + kKstep - 1) / kKstep * kKstep;
  // A tile rows must hold kp values each, zero past k (never a value past A's row, which could be
  // NaN: 0 x NaN is NaN), and a block must have whole tiles of rows: A is copied, zero-padded, into
  // a per-thread buffer (rows x k values against rows x k x cols multiply-adds). Rows past `rows`
  // in the last block are zero too; their C rows are computed and not stored.
  thread_local std::vector<bfloat16> buf_store;  // `buf` starts at its first 64-byte boundary
  thread_local std::vector<float> parts;
  const size_t padded_rows = (rows + kMr - 1) / kMr * kMr, blocks = padded_rows / kMr;
  if (buf_store.size() < padded_rows * kp + 32) buf_store.resize(padded_rows * kp + 32);
  bfloat16* const buf = buf_store.data() + (-reinterpret_cast<uintptr_t>(buf_store.data()) / sizeof(bfloat16)) % 32;
  auto job_for = [&](size_t i0) {
    CopyJob job;
    job.src = a + i0 * a_row_stride, job.src_stride = a_row_stride, job.n = std::min(kMr, rows - i0), job.k = k;
    job.dst = buf + i0 * kp, job.steps = kp / kKstep;
    return job;
  };
  // With k-blocks (k > kKc) the first panel does not see all of k at once: A is copied up front.
  const bool lazy = kp <= kKc;
  for (size_t i0 = 0; i0 < rows && !lazy; i0 += kMr) {
    CopyJob job = job_for(i0);
    copy_steps(job, job.steps);
  }
  const size_t panels = (cols + kNr - 1) / kNr;
  if (kp > kKc && parts.size() < panels * blocks * kMr * kNr) parts.resize(panels * blocks * kMr * kNr);
  Pending pend;
  const Rounder rnd(act);
  configure_tiles();
  auto one = [&](size_t k0, size_t kc, size_t j0, size_t i0, CopyJob& job) {
    const bool first = k0 == 0, last = k0 + kc >= kp;
    const size_t nc = std::min(kNr, cols - j0), mr = std::min(kMr, rows - i0);
    const bfloat16* panel = packed_b + (j0 / kNr) * gemm_panel_size(k, kNr, kKstep);
    const float* bias = reinterpret_cast<const float*>(panel);
    const bfloat16* bp = panel + kKstep * kNr + (k0 / 2) * kPairRow;
    const bfloat16* ai = buf + i0 * kp + (k0 / kKstep) * kAStep;
    float* part = parts.empty() ? nullptr : parts.data() + ((j0 / kNr) * blocks + i0 / kMr) * kMr * kNr;
    bfloat16* cij = c + i0 * c_row_stride + j0;
    const size_t steps = kc / kKstep;
    const bool two_rows = mr > kTile, two_cols = nc > kTile;
    auto run = [&](auto two_rows_c, auto two_cols_c) {
      constexpr bool kR = decltype(two_rows_c)::value, kC = decltype(two_cols_c)::value;
      block_amx<kR, kC>(mr, nc, steps, ai, bp, bias, part, first, last, cij, c_row_stride, pend, job, rnd);
    };
    using T = std::true_type;
    using F = std::false_type;
    if (two_rows && two_cols)
      run(T(), T());
    else if (two_rows)
      run(T(), F());
    else if (two_cols)
      run(F(), T());
    else
      run(F(), F());
  };
  CopyJob none;
  for (size_t k0 = 0; k0 < kp || k0 == 0; k0 += kKc) {
    const size_t kc = std::min(kKc, kp - k0);
    for (size_t j0 = 0; j0 < cols; j0 += kNr)
      for (size_t i0 = 0; i0 < rows; i0 += kMr) {
        if (!lazy || j0 > 0) {
          one(k0, kc, j0, i0, none);
          continue;
        }
        if (i0 == 0) {
          CopyJob first = job_for(0);
          copy_steps(first, first.steps);
        }
        CopyJob next = i0 + kMr < rows ? job_for(i0 + kMr) : none;
        one(k0, kc, j0, i0, next);
        copy_steps(next, next.steps);  // (done already: both blocks have kp / 32 steps)
      }
    if (kp == 0) break;
  }
  _tile_release();  // the tile state is large: do not leave it for the kernel to save and restore
  round_rows(pend, kMr, rnd);
}

}  // namespace

void fill_amx_bf16(KernelTable& table) {
  fill_avx512_bf16(table);
  table.isa = "amx_bf16";
  table.bf16.gemm = &gemm_amx;
  table.bf16.gemm_pack = &gemm_pack_amx;
  table.bf16.gemm_mr = kMr;
  table.bf16.gemm_nr = kNr;
  table.bf16.gemm_kstep = kKstep;
}

}  // namespace kernels
}  // namespace sepcpp
