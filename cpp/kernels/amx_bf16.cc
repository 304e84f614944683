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
#include <vector>

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
  _tile_loadconfig(&cfg);
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

// bf16_bits_from_float's rounding on 16 lanes (as avx512_bf16.cc and simd.hpp round).
inline __m256i round_bf16(__m512 v) {
  const __m512i u = _mm512_castps_si512(v), hi = _mm512_srli_epi32(u, 16);
  const __m512i odd = _mm512_and_si512(hi, _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), odd), 16);
  const __m512i nan = _mm512_or_si512(_mm512_and_si512(hi, _mm512_set1_epi32(0x8000)), _mm512_set1_epi32(0x7fc0));
  r = _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), nan);
  return _mm512_cvtepi32_epi16(r);
}

// C tile (16 x 16 floats in `acc`) -> rows [0, mr) and columns [0, nc) of c, clamped and rounded.
void store_tile(const float* acc, size_t mr, size_t nc, bfloat16* c, size_t c_row_stride,
                const Activation<bfloat16>& act) {
  const __m512 lo = _mm512_set1_ps(static_cast<float>(act.lo)), hi = _mm512_set1_ps(static_cast<float>(act.hi));
  for (size_t r = 0; r < mr; ++r) {
    __m512 v = _mm512_loadu_ps(acc + r * kTile);
    if (act.clamp) v = _mm512_min_ps(hi, _mm512_max_ps(lo, v));  // NaN passes
    const __m256i h = round_bf16(v);
    if (nc == kTile) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + r * c_row_stride), h);
    } else {
      uint16_t tmp[kTile];
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(tmp), h);
      std::memcpy(c + r * c_row_stride, tmp, nc * sizeof(uint16_t));
    }
  }
}

// The partial sums of one block (32 x 32 floats, row-major) between k-blocks; a C tile (tr, tc) of
// it starts at tr * 16 * 32 + tc * 16 with a row stride of 128 bytes.
constexpr long kPartStride = kNr * sizeof(float);

// One block of up to 32 rows x one panel of up to 32 columns over the k-block [k0, k0 + kc). `a`
// points at the block's rows (zero-padded to whole tiles of rows and to kp columns; row stride
// a_stride elements) at column k0, `bp` at the panel's pair row k0 / 2. The first k-block starts
// from the bias (row stride 0: the same 16 floats in every row, so that per element the sum is
// bias + products, as on the other levels), later ones from the partial sums in `part`; the last
// rounds into C, the others store the partial sums (float32: exactly). The tile numbers are
// immediates, hence the four shapes as template arguments.
template <bool kTwoRows, bool kTwoCols>
void block_amx(size_t mr, size_t nc, size_t kc, const bfloat16* a, size_t a_stride, const bfloat16* bp,
               const float* bias, float* part, bool first, bool last, bfloat16* c, size_t c_row_stride,
               const Activation<bfloat16>& act) {
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
  const long a_bytes = static_cast<long>(a_stride * sizeof(bfloat16)), b_bytes = kPairRow * sizeof(bfloat16);
  for (size_t k0 = 0; k0 < kc; k0 += kKstep, bp += (kKstep / 2) * kPairRow) {
    _tile_loadd(4, a + k0, a_bytes);
    if (kTwoRows) _tile_loadd(5, a + kTile * a_stride + k0, a_bytes);
    _tile_loadd(6, bp, b_bytes);
    if (kTwoCols) _tile_loadd(7, bp + 2 * kTile, b_bytes);
    _tile_dpbf16ps(0, 4, 6);
    if (kTwoCols) _tile_dpbf16ps(1, 4, 7);
    if (kTwoRows) _tile_dpbf16ps(2, 5, 6);
    if (kTwoRows && kTwoCols) _tile_dpbf16ps(3, 5, 7);
  }
  if (!last) {
    _tile_stored(0, part, kPartStride);
    if (kTwoCols) _tile_stored(1, part + kTile, kPartStride);
    if (kTwoRows) _tile_stored(2, part + kTile * kNr, kPartStride);
    if (kTwoRows && kTwoCols) _tile_stored(3, part + kTile * kNr + kTile, kPartStride);
    return;
  }
  alignas(64) float acc[kTile * kTile];
  const size_t mr0 = std::min(mr, kTile), nc0 = std::min(nc, kTile);
  _tile_stored(0, acc, kTile * sizeof(float));
  store_tile(acc, mr0, nc0, c, c_row_stride, act);
  if (kTwoCols) {
    _tile_stored(1, acc, kTile * sizeof(float));
    store_tile(acc, mr0, nc - kTile, c + kTile, c_row_stride, act);
  }
  if (kTwoRows) {
    _tile_stored(2, acc, kTile * sizeof(float));
    store_tile(acc, mr - kTile, nc0, c + kTile * c_row_stride, c_row_stride, act);
  }
  if (kTwoRows && kTwoCols) {
    _tile_stored(3, acc, kTile * sizeof(float));
    store_tile(acc, mr - kTile, nc - kTile, c + kTile * c_row_stride + kTile, c_row_stride, act);
  }
}

// dst[0, n) = src[0, m) then zeros (m <= n, n a multiple of 32), in 64-byte masked moves: rows of A are
// short (32 values for a 32-channel layer), where memcpy's `rep movs` costs more than the tiles.
inline void copy_row(const bfloat16* src, size_t m, bfloat16* dst, size_t n) {
  for (size_t j = 0; j < n; j += 32) {
    const size_t valid = j < m ? std::min<size_t>(32, m - j) : 0;
    const __mmask32 mask = valid == 32 ? ~__mmask32(0) : static_cast<__mmask32>((1u << valid) - 1u);
    _mm512_storeu_si512(dst + j, _mm512_maskz_loadu_epi16(mask, src + j));
  }
}

// k per k-block: a panel's block (256 x 32 values, 16 KiB) stays in L1 while the row blocks stream
// past it, and a row block's (32 x 256, 16 KiB) beside it.
constexpr size_t kKc = 256;

void gemm_amx(size_t rows, size_t cols, size_t k, const bfloat16* a, size_t a_row_stride, const bfloat16* packed_b,
              bfloat16* c, size_t c_row_stride, const Activation<bfloat16>& act) {
  const size_t kp = (k + kKstep - 1) / kKstep * kKstep;
  // A tile rows must hold kp values each, zero past k (never a value past A's row, which could be
  // NaN: 0 x NaN is NaN), and a block must have whole tiles of rows: A is copied, zero-padded, into
  // a per-thread buffer (rows x k values against rows x k x cols multiply-adds), k-block by k-block
  // ([k-block][row][kc]): a row block's k-block is then 16 KiB in a row, where the rows of A, a
  // power of two apart, would fall into a few L1 sets and evict each other. Rows past `rows` in
  // the last block are zero too; their C rows are computed and not stored.
  thread_local std::vector<bfloat16> buf;
  thread_local std::vector<float> parts;
  const size_t padded_rows = (rows + kMr - 1) / kMr * kMr;
  if (buf.size() < padded_rows * kp) buf.resize(padded_rows * kp);
  for (size_t k0 = 0; k0 < kp; k0 += kKc) {
    const size_t kc = std::min(kKc, kp - k0), kv = k0 < k ? std::min(kc, k - k0) : 0;  // values in A
    bfloat16* dst = buf.data() + k0 * padded_rows;
    for (size_t r = 0; r < rows; ++r) copy_row(a + r * a_row_stride + k0, kv, dst + r * kc, kc);
    std::memset(static_cast<void*>(dst + rows * kc), 0, (padded_rows - rows) * kc * sizeof(bfloat16));
  }
  const size_t panels = (cols + kNr - 1) / kNr, blocks = padded_rows / kMr;
  if (kp > kKc && parts.size() < panels * blocks * kMr * kNr) parts.resize(panels * blocks * kMr * kNr);
  configure_tiles();
  // k-blocks outer; then panels, then row blocks: a panel's k-block is read from memory once and
  // then from L1 by every row block.
  for (size_t k0 = 0; k0 < kp || k0 == 0; k0 += kKc) {
    const size_t kc = std::min(kKc, kp - k0);
    const bool first = k0 == 0, last = k0 + kc >= kp;
    for (size_t j0 = 0; j0 < cols; j0 += kNr) {
      const size_t nc = std::min(kNr, cols - j0);
      const bfloat16* panel = packed_b + (j0 / kNr) * gemm_panel_size(k, kNr, kKstep);
      const float* bias = reinterpret_cast<const float*>(panel);
      const bfloat16* bp = panel + kKstep * kNr + (k0 / 2) * kPairRow;
      const bool two_cols = nc > kTile;
      for (size_t i0 = 0; i0 < rows; i0 += kMr) {
        const size_t mr = std::min(kMr, rows - i0);
        const bfloat16* ai = buf.data() + k0 * padded_rows + i0 * kc;
        float* part = parts.empty() ? nullptr : parts.data() + ((j0 / kNr) * blocks + i0 / kMr) * kMr * kNr;
        bfloat16* cij = c + i0 * c_row_stride + j0;
        const bool two_rows = mr > kTile;
        if (two_rows && two_cols)
          block_amx<true, true>(mr, nc, kc, ai, kc, bp, bias, part, first, last, cij, c_row_stride, act);
        else if (two_rows)
          block_amx<true, false>(mr, nc, kc, ai, kc, bp, bias, part, first, last, cij, c_row_stride, act);
        else if (two_cols)
          block_amx<false, true>(mr, nc, kc, ai, kc, bp, bias, part, first, last, cij, c_row_stride, act);
        else
          block_amx<false, false>(mr, nc, kc, ai, kc, bp, bias, part, first, last, cij, c_row_stride, act);
      }
    }
    if (kp == 0) break;
  }
  _tile_release();  // the tile state is large: do not leave it for the kernel to save and restore
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
