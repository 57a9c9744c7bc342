/* Decimal parsing, formatting and percentages in integer micro-units. */
#include "decimal.h"

#include <stdio.h>
#include <string.h>

bool dec_parse(const char *s, int64_t *micros)
{
	if (s == NULL)
		return false;
	int64_t ip = 0, fp = 0;
	int idigits = 0, fdigits = 0;
	const char *p = s;
	while (*p >= '0' && *p <= '9') {
		if (++idigits > DEC_INT_DIGITS)
			return false;
		ip = ip * 10 + (*p++ - '0');
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			if (++fdigits > DEC_FRAC_DIGITS)
				return false;
			fp = fp * 10 + (*p++ - '0');
		}
		if (fdigits == 0)
			return false;
	}
	if (*p != '\0' || idigits == 0)
		return false;
	for (int i = fdigits; i < DEC_FRAC_DIGITS; i++)
		fp *= 10;
	*micros = ip * DEC_SCALE + fp;
	return true;
}

void dec_format(int64_t micros, int min_frac, char out[DEC_STR_MAX])
{
	bool neg = micros < 0;
	uint64_t v = neg ? (uint64_t)0 - (uint64_t)micros : (uint64_t)micros;
	char frac[DEC_FRAC_DIGITS + 1];
	snprintf(frac, sizeof frac, "%06llu", (unsigned long long)(v % DEC_SCALE));
	int n = DEC_FRAC_DIGITS;
	if (min_frac < 0)
		min_frac = 0;
	while (n > min_frac && frac[n - 1] == '0')
		n--;
	frac[n] = '\0';
	snprintf(out, DEC_STR_MAX, "%s%llu%s%s", neg ? "-" : "", (unsigned long long)(v / DEC_SCALE),
		 n ? "." : "", frac);
}

int64_t dec_percent(int64_t amount, int64_t percent)
{
	/* amount[µ] * percent[µ] / (100 * 10^6) gives µ; half up. */
	__int128 num = (__int128)amount * percent;
	__int128 den = (__int128)100 * DEC_SCALE;
	__int128 r = (num + den / 2) / den;
	if (r >= (__int128)1000000000000LL * DEC_SCALE)
		return -1;
	return (int64_t)r;
}
