/* Exact money arithmetic for conversions: decimals held as integer
 * micro-units (value x 10^6, the scale of the NUMERIC(18,6) columns), so
 * no amount, payout or revenue ever passes through floating point. */
#ifndef AFFTOK_DECIMAL_H
#define AFFTOK_DECIMAL_H

#include <stdbool.h>
#include <stdint.h>

#define DEC_SCALE 1000000LL
#define DEC_FRAC_DIGITS 6
#define DEC_INT_DIGITS 12 /* up to 999,999,999,999.999999 */
/* Room for "-" + 12 digits + "." + 6 digits + NUL. */
#define DEC_STR_MAX 24

/* Parses a plain non-negative decimal ("12", "12.5", "0.000001"): digits,
 * at most one '.', at most DEC_INT_DIGITS before and DEC_FRAC_DIGITS after
 * it, no sign, exponent or spaces. Returns false on anything else. */
bool dec_parse(const char *s, int64_t *micros);
/* Writes v with at least min_frac and at most 6 fractional digits
 * (trailing zeros beyond min_frac dropped): 2500000, 2 -> "2.50". */
void dec_format(int64_t micros, int min_frac, char out[DEC_STR_MAX]);
/* amount x percent / 100, rounded half up to a micro-unit. Both inputs in
 * micro-units and non-negative; exact (128-bit intermediate). Returns -1
 * when the result does not fit DEC_INT_DIGITS. */
int64_t dec_percent(int64_t amount, int64_t percent);

#endif
