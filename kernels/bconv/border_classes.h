// Border classes of a convolution's output pixels, along one image axis.
// Output row op's window covers input rows op * stride - pad + [0, R); the
// rows that fall inside the image are the taps [lo, hi) with
//   lo = max(0, pad - op * stride),  hi = min(R, H + pad - op * stride).
// Both are nonincreasing in op, so the interior rows (lo = 0, hi = R) are one
// run [int_lo, int_hi] and every row before or after it is its own class:
//   class(op) = op                              op < int_lo
//             = int_lo                          int_lo <= op <= int_hi
//             = int_lo + 1 + (op - int_hi - 1)  op > int_hi
// With no interior row, class(op) = op. A pixel's class is
// row_class * col_classes + col_class; its valid taps are one rectangle, so
// the zero-padding excess z_full - z is one number per (class, filter): the
// implicit-GEMM epilogue reads it from a table (one load per pair of
// outputs) instead of 4 prefix-table loads per output (ncu at 1c7f99d: the
// border path was over half of the 56^2 x 64 layer's instructions).
#pragma once
#include "formats/layout.h"  // BTC_BITS_HD

namespace btc::bconv {

struct AxisClasses {
  int int_lo = 0;  // the first interior output row
  int int_hi = -1; // the last; int_lo > int_hi: none
  int count = 0;   // classes along the axis

  BTC_BITS_HD bool has_interior() const { return int_lo <= int_hi; }
  BTC_BITS_HD int class_of(int op) const {
    if (!has_interior() || op < int_lo) return op;
    return op <= int_hi ? int_lo : op - int_hi + int_lo;
  }
  // An output row of class c (the inverse of class_of on class representatives).
  BTC_BITS_HD int first_row_of(int c) const {
    if (!has_interior() || c <= int_lo) return c;
    return c - int_lo + int_hi;
  }
};

// extent: H (or W); taps: R (or S); out: P (or Q).
BTC_BITS_HD inline AxisClasses axis_classes(int extent, int taps, int stride, int pad, int out) {
  AxisClasses a;
  a.int_lo = (pad + stride - 1) / stride;  // op * stride >= pad
  const int room = extent + pad - taps;    // op * stride <= room
  a.int_hi = room < 0 ? -1 : room / stride;
  if (a.int_hi > out - 1) a.int_hi = out - 1;
  if (a.int_lo > a.int_hi) {
    a.int_lo = out;
    a.int_hi = out - 1;
    a.count = out;
  } else {
    a.count = a.int_lo + 1 + (out - 1 - a.int_hi);
  }
  return a;
}

}  // namespace btc::bconv
