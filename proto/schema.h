/*
 * schema.h: the command table shared by request.c and schema.c.
 * Internal to proto/.
 */
#ifndef TRUNKLINE_SCHEMA_H
#define TRUNKLINE_SCHEMA_H

#include "proto.h"

enum field_type { FT_STRING, FT_INT, FT_BOOL, FT_OBJARRAY, FT_STRARRAY };

struct field {
	const char		*name;
	enum field_type		 type;
	bool			 required;
	long long		 min, max;	/* int range, string length,
						   array entries */
	const char *const	*values;	/* allowed strings, or NULL */
	const struct field	*items;		/* FT_OBJARRAY entries */
};

struct command {
	const char		*name;
	int			 roles;
	const struct field	*fields;
};

const struct command *command_find(const char *name, enum proto_role role);
int	 schema_validate(const struct command *, json_t *req,
	    struct proto_error *err);

#endif
