/* Logging: syslog by default, stderr in the foreground. Every line carries
 * the current context (a request id or a job name). Never log secrets. */
#ifndef AFFTOK_LOG_H
#define AFFTOK_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *ident, bool foreground);
void log_set_level(enum log_level lvl);
/* The context string is copied; NULL clears it. */
void log_set_context(const char *ctx);
const char *log_context(void);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs and exits; only while starting up. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
