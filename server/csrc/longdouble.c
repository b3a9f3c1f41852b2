/* Number parsing and INCRBYFLOAT / HINCRBYFLOAT arithmetic exactly as Redis does it: C long double (x87 80-bit on
 * x86-64), parsed with strtold and printed with "%.17Lf" minus trailing zeros. Rust has no
 * long double type, so this small file is compiled by build.rs. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

/* Redis's string2ld: 1 on success. */
static int parse_ld(const char *s, size_t slen, long double *dp) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    long double value;
    char *eptr;
    if (slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';
    errno = 0;
    value = strtold(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' || (size_t)(eptr - buf) != slen ||
        ((errno == ERANGE) && (value == HUGE_VALL || value == -HUGE_VALL || fpclassify(value) == FP_ZERO)) ||
        isnan(value))
        return 0;
    *dp = value;
    return 1;
}

/* 1 if `s` parses as a long double; *finite tells whether it is finite. */
int rso_ld_valid(const char *s, size_t slen, int *finite) {
    long double v;
    if (!parse_ld(s, slen, &v)) return 0;
    *finite = isfinite(v) ? 1 : 0;
    return 1;
}

/* cur (NULL = 0) + incr, formatted into out. Returns the length, or -1 when cur is not a float,
 * -2 when incr is not a float, -3 when the sum is NaN or infinite, -4 when out is too small. */
long rso_ld_add(const char *cur, size_t curlen, const char *incr, size_t incrlen, char *out, size_t outlen) {
    long double value = 0, by;
    if (cur != NULL && !parse_ld(cur, curlen, &value)) return -1;
    if (!parse_ld(incr, incrlen, &by)) return -2;
    value += by;
    if (isnan(value) || isinf(value)) return -3;
    int l = snprintf(out, outlen, "%.17Lf", value);
    if (l < 0 || (size_t)l + 1 > outlen) return -4;
    if (strchr(out, '.') != NULL) {
        char *p = out + l - 1;
        while (*p == '0') { p--; l--; }
        if (*p == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') { out[0] = '0'; l = 1; }
    return l;
}

/* Redis's string2d (ZADD/ZINCRBY scores): the whole buffer must be a strtod number, no leading
 * space, no NaN, no overflow/underflow. Returns 1 and sets *dp on success. */
int rso_string2d(const char *s, size_t slen, double *dp) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    char *eptr;
    double value;
    if (slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';
    errno = 0;
    value = strtod(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' || (size_t)(eptr - buf) != slen ||
        (errno == ERANGE && (value == HUGE_VAL || value == -HUGE_VAL || fpclassify(value) == FP_ZERO)) ||
        isnan(value))
        return 0;
    *dp = value;
    return 1;
}

/* Redis's score-range item parsing (zslParseRange): strtod over the NUL-terminated argument,
 * accepted when it stops at a NUL and is not NaN (so "" is 0 and "1e5000" is inf). */
int rso_range_item(const char *s, size_t slen, double *dp, int *exclusive) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    char *eptr;
    const char *p = buf;
    if (slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';
    *exclusive = 0;
    if (buf[0] == '(') {
        *exclusive = 1;
        p = buf + 1;
    }
    *dp = strtod(p, &eptr);
    if (eptr[0] != '\0' || isnan(*dp)) return 0;
    return 1;
}

/* Score text of a skiplist-encoded zset in ZSCAN, like Redis's ld2string(LD_STR_AUTO). */
long rso_ld2string_auto(double value, char *out, size_t outlen) {
    if (isinf(value)) {
        const char *s = value > 0 ? "inf" : "-inf";
        size_t l = strlen(s);
        if (outlen < l + 1) return -1;
        memcpy(out, s, l + 1);
        return (long)l;
    }
    int l = snprintf(out, outlen, "%.17Lg", (long double)value);
    if (l < 0 || (size_t)l + 1 > outlen) return -1;
    return l;
}
