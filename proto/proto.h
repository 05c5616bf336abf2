/*
 * proto.h: the Trunkline JSON control protocol library (see PROTOCOL.md).
 *
 * The only code that reads or writes the wire format. Used by relayd, the
 * controller and trunklinectl. It frames lines, parses and validates
 * requests against a per-command schema, and builds replies and events.
 * It also buffers and reads a connection's lines (conn.c; the event loop
 * stays each daemon's) and holds the small JSON helpers the daemons'
 * config loaders share (locating a field's line in a file).
 */
#ifndef TRUNKLINE_PROTO_H
#define TRUNKLINE_PROTO_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <jansson.h>

#define PROTO_VERSION		1
#define PROTO_MAX_LINE		65536	/* bytes, including the newline */
#define PROTO_MAX_MEDIA		16
#define PROTO_MAX_STRING	255
#define PROTO_LIST_MAX		2000	/* calls in one `list` page */

enum proto_err {
	PROTO_OK = 0,
	PROTO_E_PARSE,		/* parse_error */
	PROTO_E_INVALID,	/* invalid_request */
	PROTO_E_UNKNOWN_CMD,	/* unknown_command */
	PROTO_E_MISSING,	/* missing_field */
	PROTO_E_TYPE,		/* wrong_type */
	PROTO_E_UNKNOWN_FIELD,	/* unknown_field */
	PROTO_E_VALUE,		/* invalid_value */
	PROTO_E_NOT_FOUND,	/* not_found */
	PROTO_E_EXHAUSTED,	/* ports_exhausted */
	PROTO_E_UNAUTHORIZED,	/* unauthorized */
	PROTO_E_TOO_LONG,	/* line_too_long */
	PROTO_E_INTERNAL,	/* internal */
};

struct proto_error {
	enum proto_err	code;
	char		message[256];
};

/* Which server validates: a command is known to one role only. */
enum proto_role {
	PROTO_ROLE_RELAY = 1,
	PROTO_ROLE_CONTROLLER = 2,
};

/*
 * UTF-8 (utf8.c). Strings from JSON are valid UTF-8 and must stay so when
 * cut to fit a buffer, or jansson refuses them (and a reply loses its
 * error, a media entry or a journal line).
 * proto_utf8_prefix(): the length of the longest prefix of s of at most
 * max bytes that ends on a character boundary (for "%.*s").
 * proto_utf8_trim(): cut an incomplete character off the end of s.
 */
size_t	 proto_utf8_prefix(const char *s, size_t max);
void	 proto_utf8_trim(char *s);

/* "missing_field" for PROTO_E_MISSING, ...; "internal" for unknown values. */
const char *proto_err_code(enum proto_err code);
/* Fill err (code and printf-style message); returns -1 for `return` chains. */
int proto_errorf(struct proto_error *err, enum proto_err code,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Framing. Bytes go in with proto_framer_feed(); complete lines come out of
 * proto_framer_next(). A line longer than max_line (newline included) makes
 * proto_framer_next() return -EMSGSIZE, after which the caller replies
 * line_too_long and closes the connection.
 */
struct proto_framer {
	char	*buf;
	size_t	 len;		/* bytes held */
	size_t	 off;		/* start of the unconsumed part */
	size_t	 cap;
	size_t	 max_line;
	size_t	 scanned;	/* bytes after off already known to hold no '\n' */
};

void	proto_framer_init(struct proto_framer *f, size_t max_line);
void	proto_framer_free(struct proto_framer *f);
/* 0, or -ENOMEM. Never grows the buffer beyond what max_line needs. */
int	proto_framer_feed(struct proto_framer *f, const void *data, size_t len);
/*
 * 1: *line points at a NUL-terminated line (no '\n', no trailing '\r'),
 *    valid until the next feed/next call; *len is its length.
 * 0: no complete line yet.
 * -EMSGSIZE: the current line is over the limit.
 * Empty lines are skipped.
 */
int	proto_framer_next(struct proto_framer *f, char **line, size_t *len);

/*
 * Connections (conn.c). proto_framer_recv() reads once from a non-blocking
 * socket into f (with f NULL the bytes are read and dropped, to drain a
 * connection being closed): 1 bytes taken, 0 nothing to read now,
 * -EPIPE the peer closed, -ENOMEM the framer could not take them, other
 * -errno the read failed.
 */
int	proto_framer_recv(struct proto_framer *f, int fd);
/* The line_too_long error reply sent before closing (id null). */
json_t	*proto_reply_too_long(void);
/*
 * Out of descriptors (accept said EMFILE or ENFILE), a listening socket
 * stays readable and an event loop would spin on it. proto_reserve_open()
 * holds one spare descriptor (-errno if it cannot); proto_accept_shed()
 * gives it up to accept one waiting connection and close it at once, then
 * takes it back: 0 one was shed, -EAGAIN none was waiting, other -errno
 * (no spare: the caller pauses the listener instead).
 */
int	proto_reserve_open(void);
int	proto_accept_shed(int listen_fd, int *reserve);

/*
 * Outgoing lines of one connection, at most `max` bytes queued.
 * proto_outbuf_append() queues msg (stolen) as one line: 0; -EMSGSIZE it
 * would pass the cap, -ENOMEM, -EINVAL msg could not be encoded (NULL or
 * out of memory); nothing is queued on error.
 * proto_outbuf_flush() sends until the socket would block: 1 bytes remain
 * (wait for writability), 0 all sent, -errno the peer is gone.
 */
struct proto_outbuf {
	char	*buf;
	size_t	 len, cap, max;
};

void	proto_outbuf_init(struct proto_outbuf *o, size_t max);
void	proto_outbuf_free(struct proto_outbuf *o);
int	proto_outbuf_append(struct proto_outbuf *o, json_t *msg);
/* Queue bytes already encoded (whole lines); same errors, nothing stolen. */
int	proto_outbuf_append_raw(struct proto_outbuf *o, const char *data,
	    size_t len);
/*
 * Move whole lines from the front of src to dst while dst holds at most
 * `limit` bytes: a backlog (events for a slow reader) waits in src and
 * is fed to dst as the peer reads. Returns the bytes moved, -ENOMEM.
 */
int	proto_outbuf_move_lines(struct proto_outbuf *dst,
	    struct proto_outbuf *src, size_t limit);
int	proto_outbuf_flush(struct proto_outbuf *o, int fd);

/*
 * jsonfast.c: the plain requests controllers send (no escapes, ASCII,
 * integers), parsed without jansson's lexer: exactly what json_loadb would
 * return, or NULL for anything else (then json_loadb decides, errors
 * included).
 */
json_t	*proto_json_fast(const char *text, size_t len);

/*
 * Parse and validate one request line for a role.
 * Success: returns the request object (caller owns a reference); *cmd
 * points at its command name (valid while the object lives).
 * Failure: returns NULL and fills err. In both cases *id receives a new
 * reference to the request's id (json null when absent or unreadable), so
 * that the caller can always reply with proto_reply_error(*id, err).
 */
json_t	*proto_parse_request(const char *line, size_t len, enum proto_role role,
	    json_t **id, const char **cmd, struct proto_error *err);

/*
 * Parse a line received by a client: a reply (has "ok") or an event (has
 * "event"). Returns a new reference, or NULL with err filled.
 */
json_t	*proto_parse_message(const char *line, size_t len,
	    struct proto_error *err);

/* Build a request {"id":id,"cmd":cmd}; add fields with json_object_set_new. */
json_t	*proto_request(json_int_t id, const char *cmd);
/* {"id":id,"ok":true}. id may be NULL (becomes null); it is not stolen. */
json_t	*proto_reply_ok(json_t *id);
/* {"id":id,"ok":false,"error":{"code":..,"message":..}}. id not stolen. */
json_t	*proto_reply_error(json_t *id, const struct proto_error *err);
/* {"event":name} */
json_t	*proto_event(const char *name);
/*
 * Serialize compactly with a trailing '\n' into a malloc'd buffer.
 * Returns NULL on allocation failure. *len excludes the final NUL.
 */
char	*proto_encode(const json_t *msg, size_t *len);

/* Is `cmd` defined for `role`? */
bool	 proto_command_known(const char *cmd, enum proto_role role);

/*
 * Config helpers shared by the daemons' loaders.
 * proto_json_locate() returns the 1-based line where the value at `path`
 * starts in the JSON text, 0 if not found. path: "a.b[2].c" ("" is the
 * root). Tolerates only valid JSON (it is called after parsing succeeded).
 */
int	 proto_json_locate(const char *text, size_t len, const char *path);

/* Read a whole file into a NUL-terminated malloc'd buffer; -errno on error. */
int	 proto_read_file(const char *path, char **text, size_t *len);

/*
 * Config loaders (confread.c): errors read "file:line: field: message".
 * proto_cfg_open() reads and parses the file (duplicate keys rejected);
 * the getters return 1 when the key was set, 0 when absent, -1 on error
 * (with the message in err).
 */
#define PROTO_CFG_PATH	160
struct proto_cfg {
	const char	*file;
	const char	*text;
	size_t		 len;
	char		*err;
	size_t		 errlen;
};
json_t	*proto_cfg_open(struct proto_cfg *, const char *path, char *err,
	    size_t errlen);
void	 proto_cfg_close(struct proto_cfg *, json_t *root);
int	 proto_cfg_fail(struct proto_cfg *, const char *path, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));
void	 proto_cfg_join(char *out, size_t len, const char *base,
	    const char *key);
/* Reject keys outside `allowed` (NULL-terminated). */
int	 proto_cfg_keys(struct proto_cfg *, json_t *obj, const char *path,
	    const char *const *allowed);
int	 proto_cfg_string(struct proto_cfg *, json_t *obj, const char *path,
	    const char *key, char *out, size_t len, bool required);
int	 proto_cfg_number(struct proto_cfg *, json_t *obj, const char *path,
	    const char *key, double *out, double min, double max);
int	 proto_cfg_bool(struct proto_cfg *, json_t *obj, const char *path,
	    const char *key, bool *out);
/* A file mode written as an octal string ("0660"). */
int	 proto_cfg_mode(struct proto_cfg *, json_t *obj, const char *path,
	    const char *key, unsigned *out);

/*
 * Socket addresses (addr.c), numeric only. addr_parse_hostport() takes
 * "192.0.2.1:4000" or "[2001:db8::1]:4000". 0 or -EINVAL.
 */
int	 addr_parse(const char *text, uint16_t port, struct sockaddr_storage *);
int	 addr_parse_hostport(const char *text, struct sockaddr_storage *);
const char *addr_fmt(const struct sockaddr_storage *, char *buf, size_t len);
uint16_t addr_port(const struct sockaddr_storage *);
void	 addr_set_port(struct sockaddr_storage *, uint16_t);
bool	 addr_equal(const struct sockaddr_storage *, const struct sockaddr_storage *);
bool	 addr_is_any(const struct sockaddr_storage *);
socklen_t addr_len(const struct sockaddr_storage *);

/*
 * Log lines (log.c), shared by the daemons: to stderr, where journald
 * takes them, "2026-11-23T03:52:41.123Z relayd warning: text". The
 * threshold is the caller's (its context struct), so no global state.
 */
enum log_level { LL_DEBUG, LL_INFO, LL_NOTICE, LL_WARNING, LL_ERROR };
int	 log_level_parse(const char *name, enum log_level *out);
void	 log_vline(const char *daemon, enum log_level, const char *fmt,
	    va_list);

/* ---- siphash.c: keyed hash for tables fed from the network ---- */
uint64_t siphash24(const void *, size_t, const uint64_t key[2]);

#endif
